from django.apps import AppConfig
from django.urls import register_converter


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "Labelloop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from annotator.auth import note_password_change_needed
        from annotator.params import IdConverter

        user_logged_in.connect(note_password_change_needed, dispatch_uid="labelloop-password-change-needed")

        # `<id:...>` in our URL patterns: ids beyond the database's range are a 404, not a 500.
        register_converter(IdConverter, "id")
