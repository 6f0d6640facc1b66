# Topics and OUR OWN push subscriptions, one per catalog consumer. Functions carry no
# event_trigger: an Eventarc-made subscription cannot be given a dead-letter topic from Terraform.

resource "google_pubsub_topic" "topic" {
  # checkov:skip=CKV_GCP_83: Google-managed encryption at rest; set kms_key_name here if the operator's policy requires CMEK (it needs a KMS key ring the operator owns).
  for_each = local.topics
  name     = each.key
  labels   = { app = "vas" }

  lifecycle {
    precondition {
      # merge() in catalog.tf keeps the last of two entries with the same name; shared/catalog.py refuses them.
      condition     = length(local.catalog_declared_twice) == 0
      error_message = "catalog: declared in two files: ${jsonencode(local.catalog_declared_twice)}"
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_pubsub_subscription" "consumer" {
  for_each = local.consumers
  name     = each.key
  topic    = google_pubsub_topic.topic[each.value.topic].id

  ack_deadline_seconds = each.value.ack_deadline_seconds
  # One key's messages pushed one at a time, in order, where the topic names an ordering key (the sender,
  # the callee, the account): Pub/Sub pushes the next only once the previous is acknowledged or dead-lettered.
  enable_message_ordering = contains(local.ordered_topics, each.value.topic)
  # Only the messages the consumer's `filter:` matches (over the attributes its topic declares) are pushed;
  # Pub/Sub acknowledges the rest itself. Changing a filter replaces the subscription.
  filter = each.value.filter

  # Seeking to a time (`python -m functions.ops seek`) re-delivers acknowledged messages only if
  # the subscription keeps them; they are kept, at storage cost, for the retention below.
  retain_acked_messages      = true
  message_retention_duration = var.subscription_message_retention

  push_config {
    # functions-framework reads the topic from this path when it turns the push body into a CloudEvent.
    push_endpoint = "${google_cloudfunctions2_function.function[each.key].service_config[0].uri}/projects/${var.project}/topics/${each.value.topic}"

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      # Cloud Run checks the token's audience against the service URL, not the URL with the path.
      audience = google_cloudfunctions2_function.function[each.key].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "${each.value.min_backoff_seconds}s"
    maximum_backoff = "${each.value.max_backoff_seconds}s"
  }

  dynamic "dead_letter_policy" {
    # `dead_letter: false` (the dead-letter consumer itself) retries until the message is stored.
    for_each = each.value.dead_letter ? [each.value] : []
    content {
      dead_letter_topic     = google_pubsub_topic.topic[local.dead_letter_topic].id
      max_delivery_attempts = dead_letter_policy.value.max_delivery_attempts
    }
  }

  # A quiet topic (a rare BSS feed) must not lose its subscription after 31 idle days.
  expiration_policy {
    ttl = ""
  }

  labels = { app = "vas" }

  lifecycle {
    precondition {
      condition     = !each.value.dead_letter || (each.value.max_delivery_attempts >= 5 && each.value.max_delivery_attempts <= 100)
      error_message = "catalog consumer ${each.key}: Pub/Sub allows 5..100 delivery attempts before dead-lettering."
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_service_account_iam_member.pubsub_mints_push_tokens,
  ]
}

# The Pub/Sub service agent moves undeliverable messages: it publishes to the dead-letter topic
# and acknowledges them on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.topic[local.dead_letter_topic].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_acknowledger" {
  for_each     = { for name, consumer in local.consumers : name => consumer if consumer.dead_letter }
  subscription = google_pubsub_subscription.consumer[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
