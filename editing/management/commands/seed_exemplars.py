"""Seed the exemplar gallery with synthetic faces of every attribute and style (once)."""
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand

from editing import engine
from editing.models import Exemplar


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--per-style", type=int, default=2)
        parser.add_argument("--force", action="store_true", help="add them even if synthetic exemplars exist")

    def handle(self, *args, per_style, force, **options):
        if not force and Exemplar.objects.filter(source=Exemplar.Source.SYNTHETIC).exists():
            self.stdout.write("synthetic exemplars already seeded")
            return
        count = 0
        for item in engine.synthetic_exemplars(per_style=per_style):
            exemplar = Exemplar(attribute=item["attribute"], style=item["style"], title=item["title"],
                                source=Exemplar.Source.SYNTHETIC, public=True)
            exemplar.image.save("exemplar.png", ContentFile(engine.to_png(item["image"])), save=False)
            exemplar.save()
            count += 1
        self.stdout.write(f"seeded {count} synthetic exemplars")
