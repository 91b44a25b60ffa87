from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from editing import health


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    result = await health.report()
    return JsonResponse(result, status=200 if result["ok"] else 503)
