# Alerts on deliveries that stall: a subscription whose oldest undelivered message grows old (a
# consumer killed, crash-looping or refusing everything), and dead letters arriving. What to do
# is in each alert's text: `python -m functions.ops backlog | seek | dead-letters | replay`.

locals {
  # The catalog subscriptions that forward undeliverable messages to the dead-letter topic.
  dead_lettering_subscriptions = [for name, consumer in local.consumers : name if consumer.dead_letter]
  # The subscriptions that hold the dead letters themselves (the dead-letter topic's consumers).
  dead_letter_subscriptions = [for name, consumer in local.consumers : name if consumer.topic == local.dead_letter_topic]
}

resource "google_monitoring_alert_policy" "backlog_age" {
  for_each     = local.consumers
  display_name = "vas ${each.key}: undelivered for over ${var.backlog_alert_age_seconds}s"
  combiner     = "OR"

  conditions {
    display_name = "oldest unacknowledged message of ${each.key}"
    condition_threshold {
      filter          = "metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${each.key}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.backlog_alert_age_seconds
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages wait on subscription `${each.key}` (topic `${each.value.topic}`). See the backlog with `python -m functions.ops backlog`; once the consumer is healthy again, `python -m functions.ops seek ${each.key} --to <a time before the oldest>` offers them again."
  }

  notification_channels = var.alert_notification_channels
  user_labels           = { app = "vas" }

  depends_on = [google_project_service.api, google_pubsub_subscription.consumer]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  # One policy per dead-letter topic of the catalog (it names one today).
  for_each     = toset([local.dead_letter_topic])
  display_name = "vas: dead letters on ${each.key}"
  combiner     = "OR"

  conditions {
    display_name = "a message was forwarded to ${each.key}"
    condition_threshold {
      filter          = "metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = one_of(${join(", ", formatlist("\"%s\"", local.dead_lettering_subscriptions))})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_DELTA"
      }
    }
  }

  conditions {
    # Dead letters nobody has stored for replay yet: the ops consumer is down or failing.
    display_name = "${each.key} is not empty"
    condition_threshold {
      filter          = "metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = one_of(${join(", ", formatlist("\"%s\"", local.dead_letter_subscriptions))})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Messages exhausted their delivery attempts and went to `${each.key}`. List them with `python -m functions.ops dead-letters`, fix the cause, then `python -m functions.ops replay MESSAGE_ID` (or `--all`)."
  }

  notification_channels = var.alert_notification_channels
  user_labels           = { app = "vas" }

  depends_on = [google_project_service.api, google_pubsub_subscription.consumer]
}
