from django.contrib import admin

from annotator.models import Annotation, Item, Job, Label, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "task_type", "language", "backbone", "created_at"]
    inlines = [MembershipInline]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "parent", "kind", "active"]
    list_filter = ["project"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "split", "created_at"]
    list_filter = ["project", "split"]
    search_fields = ["text"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "annotator", "source", "created_at"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "progress", "created_at"]
    list_filter = ["status", "kind"]
