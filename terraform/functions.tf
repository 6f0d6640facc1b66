# Cloud Run functions (2nd gen), all built from the one source archive (source.tf): one resource
# for consumers and webhooks alike, which differ only in the settings local.functions gives each kind.

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

  # The plain settings Terraform can give a function, by shared/settings.py field (VAS_<FIELD>); a
  # service's functions get the ones its infrastructure.yaml `reads.settings` names.
  setting_values = {
    sms_status_callback_url = local.webhook_url["edge-message-status"]
    # Amazon SES: the AWS provider is not part of this deployment, so the identity (var.email_sender)
    # is verified once in the SES console of var.ses_region; its credentials are secrets (secrets.tf).
    ses_region   = var.ses_region
    email_sender = var.email_sender
    ses_endpoint = var.ses_endpoint
  }
  service_env = {
    for service, reads in local.infrastructure_reads : service => {
      for setting in reads.settings : "VAS_${upper(setting)}" => local.setting_values[setting]
      if contains(keys(local.setting_values), setting)
    }
  }

  # Every function by catalog name, with what its kind decides.
  functions = merge(
    # CloudEvent functions fed by our own push subscriptions (pubsub.tf); no event_trigger on purpose.
    {
      for name, consumer in local.consumers : name => {
        source      = consumer.source
        entry_point = consumer.entry_point
        service     = local.service_of[name]
        description = "Consumes ${consumer.topic} (catalog consumer ${name})."
        # Only Pub/Sub (and anything in the project's network) may reach it, and it still needs the push token.
        ingress = "ALLOW_INTERNAL_ONLY"
        # Finish (or fail) before Pub/Sub gives up on the push and redelivers the same message.
        timeout_seconds = consumer.ack_deadline_seconds
        # Scales to zero: a push waits out a cold start, the ack deadline is longer.
        min_instances = null
        env           = {}
      }
    },
    # The carrier edge: public HTTP functions (catalog `webhooks`).
    {
      for name, webhook in local.webhooks : name => {
        source      = webhook.source
        entry_point = webhook.entry_point
        service     = local.service_of[name]
        description = webhook.description
        # The carrier's gateways and Twilio call from the internet; webhook_public (below) lets them in.
        ingress = "ALLOW_ALL"
        # Gateways wait seconds, not minutes; a request still running after this is already lost.
        timeout_seconds = 30
        min_instances   = var.webhook_min_instances
        env             = { VAS_WEBHOOK_BASE_URL = local.webhook_url[name] }
      }
    },
  )
}

resource "google_cloudfunctions2_function" "function" {
  # checkov:skip=CKV_GCP_124: the carrier's USSD gateway and Twilio call from the internet, so the webhooks' ingress must be ALLOW_ALL; every request is authenticated in code (gateway HMAC, X-Twilio-Signature) and refused with 403 otherwise. Consumers stay ALLOW_INTERNAL_ONLY, which tests/unit/test_terraform.py holds in place of this check.
  for_each    = local.functions
  name        = each.key
  location    = var.region
  description = each.value.description
  labels      = { app = "vas", service = each.value.service }

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
    available_memory               = var.function_memory
    min_instance_count             = each.value.min_instances
    max_instance_count             = var.function_max_instances
    timeout_seconds                = each.value.timeout_seconds
    ingress_settings               = each.value.ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime[each.value.service].email
    environment_variables = merge(
      local.common_env,
      lookup(local.service_env, each.value.service, {}),
      { VAS_FUNCTION = each.key },
      each.value.env,
    )

    dynamic "secret_environment_variables" {
      for_each = toset(lookup(local.secrets_used_by, each.value.service, []))
      content {
        key        = local.secrets[secret_environment_variables.value].env
        project_id = var.project
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  lifecycle {
    precondition {
      # merge() above keeps only one of two functions with the same name; Cloud Run would refuse both.
      condition     = length(setintersection(keys(local.consumers), keys(local.webhooks))) == 0
      error_message = "catalog: ${join(", ", setintersection(keys(local.consumers), keys(local.webhooks)))} name both a consumer and a webhook."
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
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
