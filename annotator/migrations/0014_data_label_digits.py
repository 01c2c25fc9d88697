from django.db import migrations, models

DIGIT_KEYS = "1234567890"


def give_digits(apps, schema_editor):
    """Store the digit each active label showed until now (by position, skipping digit shortcuts)."""
    Label = apps.get_model("annotator", "Label")
    project_ids = Label.objects.values_list("project_id", flat=True).distinct()
    for project_id in project_ids:
        labels = list(Label.objects.filter(project_id=project_id, active=True).order_by("order", "name", "id"))
        taken = {label.shortcut.lower() for label in labels if label.shortcut}
        by_parent = {}
        for label in labels:
            by_parent.setdefault(label.parent_id, []).append(label)
        for siblings in by_parent.values():
            free = [digit for digit in DIGIT_KEYS if digit not in taken]
            for label in siblings:
                if not label.shortcut and free:
                    label.digit = free.pop(0)
                    label.save(update_fields=["digit"])


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0013_members_account_profile"),
    ]

    operations = [
        migrations.AddField(
            model_name="label",
            name="digit",
            field=models.CharField(blank=True, max_length=1),
        ),
        migrations.RunPython(give_digits, migrations.RunPython.noop),
    ]
