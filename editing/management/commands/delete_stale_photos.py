"""Delete uploads nobody has opened for FACELAB_RETENTION_DAYS days, with everything made from them."""
from django.conf import settings
from django.core.management.base import BaseCommand

from editing import services


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.FACELAB_RETENTION_DAYS)

    def handle(self, *args, days, **options):
        self.stdout.write(f"deleted {services.delete_stale_photos(days)} photo(s) unviewed for {days} days")
