from django.urls import path

from editing import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("healthz", views.healthz, name="healthz"),
]
