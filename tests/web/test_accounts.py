"""Sign-up, log in and log out through the pages (Django's test client, real database)."""
import pytest

pytestmark = pytest.mark.django_db


def test_sign_up_creates_the_account_and_signs_in(client, django_user_model):
    response = client.post("/signup/", {"username": "carol", "password1": "a long pass phrase 42",
                                         "password2": "a long pass phrase 42"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert django_user_model.objects.filter(username="carol").exists()
    assert client.get("/").context["user"].username == "carol"


def test_sign_up_with_mismatched_or_weak_passwords_says_why(client, django_user_model):
    response = client.post("/signup/", {"username": "dave", "password1": "123", "password2": "456"})
    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()
    assert not django_user_model.objects.filter(username="dave").exists()


def test_log_in_with_a_wrong_password_is_refused(client, django_user_model):
    django_user_model.objects.create_user("erin", password="a long pass phrase 42")
    response = client.post("/accounts/login/", {"username": "erin", "password": "wrong"})
    assert response.status_code == 200 and "enter a correct username and password" in response.content.decode()


def test_log_out_needs_a_post_and_ends_the_session(client, django_user_model):
    user = django_user_model.objects.create_user("frank", password="a long pass phrase 42")
    client.force_login(user)
    assert client.get("/accounts/logout/").status_code == 405
    client.post("/accounts/logout/")
    assert not client.get("/").context["user"].is_authenticated
