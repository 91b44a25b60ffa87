"""Names of channel-layer groups (letters, digits, '-', '_', '.' only, under 100 characters)."""


def user_group(user_id: int) -> str:
    return f"user-{int(user_id)}"
