from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from editing import engine
from editing.api.serializers import MethodSerializer, UserSerializer


@extend_schema(responses=UserSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """The signed-in user."""
    return Response(UserSerializer(request.user).data)


@extend_schema(responses=MethodSerializer(many=True))
@api_view(["GET"])
def methods(request: Request) -> Response:
    """The editing methods this server has."""
    return Response(MethodSerializer(engine.available_methods(), many=True).data)
