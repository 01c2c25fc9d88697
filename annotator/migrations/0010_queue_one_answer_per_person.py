"""One counted answer per person and item (issue 19, finding 3).

Before the constraint can exist, rows that broke it (concurrent identical submits on PostgreSQL) are
folded: per (item, annotator) the latest annotation stays (the person's last word, and so the
final label they gave), every other one becomes an `AnnotationRevision` of it (their labels kept as
`labels_before`, their own revisions moved over), and the items' `is_open` flags are recomputed.
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models import Count

COUNTED_HUMAN = {"source": "human", "candidate_status": ""}


def _label_ids(AnnotationLabel, annotation_id: int) -> list[int]:
    return sorted(AnnotationLabel.objects.filter(annotation_id=annotation_id).values_list("label_id", flat=True))


def fold_duplicate_answers(apps, schema_editor) -> None:
    Annotation = apps.get_model("annotator", "Annotation")
    AnnotationLabel = apps.get_model("annotator", "AnnotationLabel")
    AnnotationRevision = apps.get_model("annotator", "AnnotationRevision")
    Item = apps.get_model("annotator", "Item")
    groups = (
        Annotation.objects.filter(annotator__isnull=False, **COUNTED_HUMAN)
        .values("item_id", "annotator_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    touched: set[int] = set()
    for group in list(groups):
        rows = list(
            Annotation.objects.filter(
                item_id=group["item_id"], annotator_id=group["annotator_id"], **COUNTED_HUMAN
            ).order_by("-updated_at", "-id")
        )
        keep, duplicates = rows[0], rows[1:]
        kept_labels = _label_ids(AnnotationLabel, keep.pk)
        for duplicate in duplicates:
            AnnotationRevision.objects.filter(annotation_id=duplicate.pk).update(annotation_id=keep.pk)
            AnnotationRevision.objects.create(
                annotation_id=keep.pk,
                reason="resubmit",
                changed_by_id=duplicate.annotator_id,
                note=f"Folded duplicate annotation {duplicate.pk} (a concurrent submit) into this one.",
                labels_before=_label_ids(AnnotationLabel, duplicate.pk),
                labels_after=kept_labels,
            )
            duplicate.delete()
        touched.add(group["item_id"])
    for item in Item.objects.filter(pk__in=touched):
        slots = Annotation.objects.filter(item_id=item.pk, candidate_status="").exclude(source="adjudicated").count()
        Item.objects.filter(pk=item.pk).update(is_open=item.required_annotations > slots)
    if touched and schema_editor.connection.vendor == "postgresql":
        # Run the deferred foreign-key checks of the deletions now: PostgreSQL refuses to build the
        # index below in a transaction with pending trigger events.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("annotator", "0009_prod_invitations"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(fold_duplicate_answers, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="annotation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("candidate_status", ""), ("source", "human")),
                fields=("item", "annotator"),
                name="one_counted_answer_per_person",
            ),
        ),
    ]
