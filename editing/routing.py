from django.urls import path

from editing import consumers

websocket_urlpatterns = [
    path("ws/preview/", consumers.PreviewConsumer.as_asgi()),
    path("ws/edit/<str:photo>/", consumers.EditorConsumer.as_asgi()),
]
