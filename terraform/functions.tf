# Cloud Run functions (2nd gen), all built from the one source archive (source.tf).

locals {
  # Each webhook's public URL, in Cloud Run's deterministic form (service name + project number),
  # known before the function exists: the edge must be told the exact URL the carrier signs
  # (Twilio signs the URL it calls), and notify the status-callback URL it hands to Twilio.
  webhook_url = {
    for name in keys(local.webhooks) : name => "https://${name}-${data.google_project.this.number}.${var.region}.run.app"
  }

  common_env = {
    VAS_PROJECT   = var.project
    VAS_OPERATOR  = var.operator
    VAS_LOG_LEVEL = var.log_level
    # Cloud Run functions unpack the archive in /workspace, and functions-framework puts only the
    # directory of GOOGLE_FUNCTION_SOURCE (functions/<service>/) on sys.path: this makes
    # `import shared` resolve from the archive root, as PYTHONPATH=<repo> does in the local stack.
    PYTHONPATH = "/workspace"
  }

  # Settings only some services read (shared/settings.py); webhooks also get their own URL.
  service_env = {
    notify = { VAS_SMS_STATUS_CALLBACK_URL = local.webhook_url["edge-message-status"] }
  }
}

# CloudEvent functions fed by our own push subscriptions (pubsub.tf); no event_trigger on purpose.
resource "google_cloudfunctions2_function" "consumer" {
  for_each    = local.consumers
  name        = each.key
  location    = var.region
  description = "Consumes ${each.value.topic} (catalog consumer ${each.key})."
  labels      = { app = "vas", service = local.service_of[each.key] }

  build_config {
    runtime     = "python311"
    entry_point = each.value.entry_point
    environment_variables = {
      GOOGLE_FUNCTION_SOURCE = each.value.source
    }
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory   = var.function_memory
    max_instance_count = var.function_max_instances
    # Finish (or fail) before Pub/Sub gives up on the push and redelivers the same message.
    timeout_seconds = each.value.ack_deadline_seconds
    # Only Pub/Sub (and anything in the project's network) may reach it, and it still needs the push token.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime[local.service_of[each.key]].email
    environment_variables = merge(
      local.common_env,
      lookup(local.service_env, local.service_of[each.key], {}),
      { VAS_FUNCTION = each.key },
    )

    dynamic "secret_environment_variables" {
      for_each = toset(lookup(local.secrets_used_by, local.service_of[each.key], []))
      content {
        key        = local.secrets[secret_environment_variables.value].env
        project_id = var.project
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.api,
    google_project_iam_member.build,
    google_secret_manager_secret_iam_member.runtime_secret_accessor,
  ]
}

# The carrier edge: public HTTP functions (catalog `webhooks`).
resource "google_cloudfunctions2_function" "webhook" {
  # checkov:skip=CKV_GCP_124: the carrier's USSD gateway and Twilio call from the internet, so ingress must be ALLOW_ALL; every request is authenticated in code (gateway HMAC, X-Twilio-Signature) and refused with 403 otherwise.
  for_each    = local.webhooks
  name        = each.key
  location    = var.region
  description = each.value.description
  labels      = { app = "vas", service = local.service_of[each.key] }

  build_config {
    runtime     = "python311"
    entry_point = each.value.entry_point
    environment_variables = {
      GOOGLE_FUNCTION_SOURCE = each.value.source
    }
    service_account = google_service_account.build.id
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory   = var.function_memory
    min_instance_count = var.webhook_min_instances
    max_instance_count = var.function_max_instances
    # Gateways wait seconds, not minutes; a request still running after this is already lost.
    timeout_seconds                = 30
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime[local.service_of[each.key]].email
    environment_variables = merge(
      local.common_env,
      lookup(local.service_env, local.service_of[each.key], {}),
      { VAS_FUNCTION = each.key, VAS_WEBHOOK_BASE_URL = local.webhook_url[each.key] },
    )

    dynamic "secret_environment_variables" {
      for_each = toset(lookup(local.secrets_used_by, local.service_of[each.key], []))
      content {
        key        = local.secrets[secret_environment_variables.value].env
        project_id = var.project
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [
    google_project_service.api,
    google_project_iam_member.build,
    google_secret_manager_secret_iam_member.runtime_secret_accessor,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "webhook_public" {
  # Unauthenticated on purpose: the carrier's gateways cannot present Google credentials. Each
  # webhook verifies the caller's signature itself and answers 403 to anything unsigned.
  for_each = local.webhooks
  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.webhook[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
