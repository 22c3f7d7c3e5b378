"""Settings of the usage log's writer: what happens to usage while the database is down.

```yaml
usage:
  queue_max_rows: 100000          # rows waiting in memory for the database, at most
  spill_dir: bastion-usage-spill  # rows the database could not take wait here (local
                                  # files, written only during an outage); null: memory only
  spill_max_mb: 1024              # all spill files together, at most
  retry_max_s: 30                 # a failing database is retried with backoff up to this
```

Rows beyond both bounds are dropped and counted (``bastion_usage_rows_dropped``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UsageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_max_rows: int = Field(100_000, ge=1)
    spill_dir: str | None = "bastion-usage-spill"
    spill_max_mb: float = Field(1024, gt=0)
    retry_max_s: float = Field(30.0, gt=0, le=3600)
