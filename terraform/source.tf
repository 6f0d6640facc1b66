# ONE source archive of the whole repository: every function is built from it and picks its own
# file with GOOGLE_FUNCTION_SOURCE (the catalog's `source`), so `shared/` ships once, unchanged.

locals {
  operator_profile = "${path.module}/../shared/operators/${var.operator}.yaml"
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/source.zip"
  excludes = [
    ".git/**",
    ".venv/**",
    ".venv-*/**",
    ".run/**",
    ".ci/**",
    ".pytest_cache/**",
    ".hypothesis/**",
    "**/__pycache__/**",
    "schemas/**",
    "tests/**",
    "terraform/**",
  ]
}

resource "google_storage_bucket" "source" {
  # checkov:skip=CKV_GCP_62: access logs of a build-input bucket add nothing to Cloud Audit Logs, which already record who wrote an object.
  name                        = "${var.project}-vas-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }

  # Archives are named by content hash, so old ones are never read again once replaced.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_storage_bucket_object" "source" {
  # Named by the archive's hash: any change to the code is a new object, hence a rebuild of every function.
  name   = "source-${data.archive_file.source.output_sha256}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path

  lifecycle {
    precondition {
      condition     = fileexists(local.operator_profile)
      error_message = "var.operator: shared/operators/${var.operator}.yaml does not exist."
    }
  }
}
