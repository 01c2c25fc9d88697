"""Binary mode over the API: one label at a time, the next candidate, then accept / reject / skip.

The decisions go through the same services as the page (`binary_accept`, `binary_reject`, `queue_skip`),
and so through `queue_answer_check`: only an item binary mode leased to the caller (409 otherwise),
never the locked test split (403), an accept only while the item has a free slot.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from annotator.access import ProjectAPIView, get_project_object
from annotator.api.errors import conflict_response
from annotator.api.queue import QueueItemOutput, QueueResponse
from annotator.models import Item, Label
from annotator.permissions import Capability
from annotator.selectors.queue import queue_item
from annotator.services.binary_queue import binary_accept, binary_next_item, binary_reject
from annotator.services.queue import QueueConflict, queue_skip

ACCEPT, REJECT, SKIP = "accept", "reject", "skip"


class BinaryApi(ProjectAPIView):
    capability = Capability.ANNOTATE

    def _label(self, label_id: int) -> Label:
        return get_object_or_404(Label, project=self.project, pk=label_id, active=True)

    def _shown(self, request, item: Item | None) -> dict | None:
        """The item as the queue shows it to the caller's role (no hidden meta), or None."""
        if item is None:
            return None
        context = {"project": self.project, "role": self.role}
        return QueueItemOutput(queue_item(item=item, user=request.user), context=context).data


class BinaryNextApi(BinaryApi):
    """Reserve the next candidate for the label (a lease): rule and cluster suggestions first, then the
    model's, most confident first; `item` is null when none is left."""

    @extend_schema(request=None, responses=QueueResponse)
    def post(self, request, project_id: int, label_id: int):
        item = binary_next_item(project=self.project, user=request.user, label=self._label(label_id))
        return Response({"item": self._shown(request, item)})


class BinaryDecisionApi(BinaryApi):
    """Accept (the label applies), reject (it does not) or skip one served item; answers the next candidate."""

    decision = ACCEPT

    class BinaryDecisionOutput(serializers.Serializer):
        decided = serializers.IntegerField(help_text="The item just decided.")
        decision = serializers.ChoiceField(choices=[ACCEPT, REJECT, SKIP])
        next = QueueItemOutput(allow_null=True, help_text="The next candidate (leased), or null.")

    @extend_schema(request=None, responses={200: BinaryDecisionOutput, 403: dict, 409: dict})
    def post(self, request, project_id: int, label_id: int, item_id: int):
        label = self._label(label_id)
        item = get_project_object(Item, self.project, pk=item_id)
        try:
            if self.decision == ACCEPT:
                binary_accept(item=item, user=request.user, label=label)
            elif self.decision == REJECT:
                binary_reject(item=item, user=request.user, label=label)
            else:
                queue_skip(item=item, user=request.user)
        except QueueConflict as conflict:
            return conflict_response(conflict)
        following = binary_next_item(project=self.project, user=request.user, label=label)
        return Response({"decided": item.pk, "decision": self.decision, "next": self._shown(request, following)})
