from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from annotator.access import project_page
from annotator.downloads import export_download
from annotator.exporting.formats import EXPORT_FORMATS
from annotator.i18n import translated_choices
from annotator.importing.encodings import AUTO, ENCODINGS
from annotator.importing.parsers import ImportOptions
from annotator.models import Project, Split
from annotator.models.projects import LABEL_PATH_SEPARATOR
from annotator.permissions import Capability
from annotator.selectors.exports import export_bom, export_filters
from annotator.selectors.projects import label_paths, project_members
from annotator.selectors.visibility import visible_items, visible_splits
from annotator.services.imports import SPLIT_CHOICES, ImportRequest, import_start

ITEMS_PER_PAGE = 50


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("CSV, TSV, JSONL, Label Studio JSON (.json) or TXT (one item per line)."),
    )
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[
            ("auto", gettext_lazy("From the file name")),
            ("csv", "CSV"),
            ("tsv", "TSV"),
            ("jsonl", "JSONL"),
            ("label-studio", "Label Studio JSON"),
            ("txt", "TXT"),
        ],
    )
    encoding = forms.ChoiceField(
        label=gettext_lazy("Encoding"),
        choices=translated_choices(ENCODINGS.items()),
        initial=AUTO,
        required=False,  # left out (older scripts posting the form): detect
        help_text=gettext_lazy("Excel on Chinese Windows saves CSV as GBK: Detect reads it, or choose GB18030."),
    )
    text_column = forms.CharField(
        label=gettext_lazy("Text column"),
        initial="text",
        help_text=gettext_lazy("CSV/TSV: the column (JSONL: the key) with the text."),
    )
    label_column = forms.CharField(
        label=gettext_lazy("Label column"),
        required=False,
        help_text=gettext_lazy("CSV/TSV: column with labels (several as a|b). Empty: 'label' if present."),
    )
    meta_columns = forms.CharField(
        label=gettext_lazy("Meta columns"),
        required=False,
        help_text=gettext_lazy("CSV/TSV: comma-separated columns to keep as meta. Empty: all other columns."),
    )
    split = forms.ChoiceField(
        label=pgettext_lazy("data split", "Split"),
        choices=[
            (choice, gettext_lazy("Labeled → train, unlabeled → pool") if choice == "auto" else choice)
            for choice in SPLIT_CHOICES
        ],
    )
    background = forms.BooleanField(
        required=False, label=gettext_lazy("Run as a background job even if the file is small")
    )

    def import_request(self) -> ImportRequest:
        data = self.cleaned_data
        meta = [column.strip() for column in data["meta_columns"].split(",") if column.strip()]
        options = ImportOptions(
            format=data["format"],
            text_column=data["text_column"],
            label_column=data["label_column"] or None,
            meta_columns=meta or None,
            encoding=data["encoding"] or AUTO,
        )
        return ImportRequest(filename=data["file"].name, options=options, split=data["split"])


@project_page(Capability.VIEW)
@require_GET
def item_list(request: HttpRequest, project: Project) -> HttpResponse:
    split = request.GET.get("split") or None
    search = request.GET.get("q", "").strip() or None
    items = visible_items(project=project, role=request.project_role, user=request.user, split=split, search=search)
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    splits = visible_splits(role=request.project_role)
    context = {"project": project, "page": page, "split": split or "", "q": search or "", "splits": splits}
    template = "annotator/partials/item_table.html" if request.htmx else "annotator/item_list.html"
    return render(request, template, context)


@project_page(Capability.IMPORT)
@require_http_methods(["GET", "POST"])
def item_import(request: HttpRequest, project: Project) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    report, error = None, None
    if request.method == "POST" and form.is_valid():
        try:
            outcome = import_start(
                project=project,
                upload=form.cleaned_data["file"],
                request=form.import_request(),
                by=request.user,
                background=form.cleaned_data["background"],
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            if outcome.job is not None:
                messages.info(request, _("The import runs in the background; this page shows its progress."))
                return redirect("job-detail", project_id=project.pk, job_id=outcome.job.pk)
            report = outcome.report.as_dict()
    status = 400 if error or form.errors else 200
    context = {"project": project, "form": form, "report": report, "error": error}
    return render(request, "annotator/import.html", context, status=status)


@project_page(Capability.EXPORT)
@require_GET
def item_export(request: HttpRequest, project: Project) -> HttpResponse:
    context = {
        "project": project,
        "formats": list(EXPORT_FORMATS),
        "splits": Split.choices,
        "labels": sorted(label_paths(project=project, separator=LABEL_PATH_SEPARATOR).items(), key=lambda kv: kv[1]),
        "members": project_members(project=project),
    }
    return render(request, "annotator/export.html", context)


@project_page(Capability.EXPORT)
@require_GET
def item_export_download(request: HttpRequest, project: Project) -> HttpResponse:
    try:
        filters = export_filters(project=project, params=request.GET)
        fmt = request.GET.get("format", "jsonl")
        return export_download(project=project, fmt=fmt, filters=filters, bom=export_bom(params=request.GET, fmt=fmt))
    except ValidationError as error:
        return HttpResponseBadRequest(" ".join(error.messages))
    except ValueError as error:
        return HttpResponseBadRequest(str(error))
