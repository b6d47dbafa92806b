"""The data registry: a git repository of DVC metafiles plus a DVC remote holding the data.

Versions are per model. Model `m`'s version `data-vN` is the git tag `m/data-vN` on the
branch `models/m`; a DataRegistry is bound to one model (`DataRegistry.from_settings(settings,
model=NAME)`) and its callers only ever see that model's `data-vN`. A version's commit holds
`manifest.json` (cheap to list: no data is downloaded) and the DVC metafiles of
`data/{train,val,test}.parquet`; the Parquet files themselves live in the DVC remote (one
remote for every model: content-addressed, so identical files are stored once).

A registry of the single-model layout (tags `data-vN` naming no model) is refused with the
way forward: `mlops data migrate --model NAME` (DataRegistry.migrate) re-tags its versions
as NAME's, atomically, keeping the old tags under refs/migrated/.

The registry repository is a bare git repository under MLOPS_HOME by default, or any git
URL. The DVC remote is a folder by default, or `s3://bucket/prefix` with the endpoint URL
and credentials taken from the environment. The remote's address is never written into a
tracked file: it is passed to DVC in memory on every operation, so one registry can be read
through a local folder on one machine and through MinIO in a cluster.

Creating a version is atomic: everything happens in a temporary clone (dvc add, dvc push,
git commit, git tag) and the registry changes only with the final `git push --atomic` of
the branch and the tag together. A failure before that leaves the registry as it was (DVC
objects pushed by a failed run are content-addressed and referenced by no version).

Modules: `versions` (tags, manifests, content hashes), `gitrepo` (the git repository),
`dvc_store` (DVC and its remote), `data_registry` (DataRegistry, which joins them).
"""

from mlops_core.contracts.constants import SPLITS
from mlops_core.registry.data_registry import DataRegistry, LegacyRegistry, MigrationResult
from mlops_core.registry.gitrepo import BRANCH
from mlops_core.registry.versions import (
    DATA_DIR,
    MANIFEST,
    TAG_PREFIX,
    PublishResult,
    RegistryError,
    VersionInfo,
    combined_hash,
    frame_hash,
    git_tag,
    tag_number,
)

__all__ = [
    "BRANCH",
    "DATA_DIR",
    "MANIFEST",
    "SPLITS",
    "TAG_PREFIX",
    "DataRegistry",
    "LegacyRegistry",
    "MigrationResult",
    "PublishResult",
    "RegistryError",
    "VersionInfo",
    "combined_hash",
    "frame_hash",
    "git_tag",
    "tag_number",
]
