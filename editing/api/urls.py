from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from editing.api import views

urlpatterns = [
    path("me/", views.me, name="api-me"),
    path("methods/", views.methods, name="api-methods"),
    path("auth/token/", obtain_auth_token, name="api-token"),
]
