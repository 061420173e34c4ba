"""Long work of `registry` run on the job queue (canteen.core.queue); handlers submit, answer 202."""

from __future__ import annotations
