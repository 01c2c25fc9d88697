from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotator", "0015_model_version_backbone")]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="parents",
            field=models.ManyToManyField(blank=True, related_name="students", to="annotator.modelversion"),
        ),
        migrations.AddField(model_name="modelversion", name="ms_per_text", field=models.FloatField(blank=True, null=True)),
        migrations.AddField(
            model_name="modelversion", name="texts_per_second", field=models.FloatField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="modelversion", name="speed_threads", field=models.PositiveIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="modelversion", name="speed_measured_at", field=models.DateTimeField(blank=True, null=True)
        ),
    ]
