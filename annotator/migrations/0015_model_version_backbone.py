from django.db import migrations, models


def fill_backbone(apps, schema_editor):
    """Versions before issue 21 were trained on their project's backbone of the time: the current one
    is the best record there is."""
    ModelVersion = apps.get_model("annotator", "ModelVersion")
    for version in ModelVersion.objects.select_related("project").filter(backbone=""):
        version.backbone = version.project.backbone
        version.save(update_fields=["backbone"])


class Migration(migrations.Migration):
    dependencies = [("annotator", "0014_data_label_digits")]

    operations = [
        migrations.AddField(
            model_name="modelversion", name="backbone", field=models.CharField(blank=True, max_length=200)
        ),
        migrations.RunPython(fill_backbone, migrations.RunPython.noop),
    ]
