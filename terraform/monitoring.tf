# Alerts on deliveries that stall: a subscription whose oldest undelivered message grows old (a
# consumer killed, crash-looping or refusing everything), and dead letters arriving. What to do
# is in each alert's text: `python -m functions.ops backlog | seek | dead-letters | replay`.

locals {
  # The catalog subscriptions that forward undeliverable messages to the dead-letter topic.
  dead_lettering_subscriptions = [for name, consumer in local.consumers : name if consumer.dead_letter]
  # The subscriptions that hold the dead letters themselves (the dead-letter topic's consumers).
  dead_letter_subscriptions = [for name, consumer in local.consumers : name if consumer.topic == local.dead_letter_topic]

  subscription_metric = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription"

  # One policy per catalog subscription, and one per dead-letter topic (the catalog names one).
  alert_policies = merge(
    {
      for name, consumer in local.consumers : "backlog-${name}" => {
        display_name = "vas ${name}: undelivered for over ${var.backlog_alert_age_seconds}s"
        conditions = [{
          display_name = "oldest unacknowledged message of ${name}"
          filter       = "${local.subscription_metric}/oldest_unacked_message_age\" AND resource.labels.subscription_id = \"${name}\""
          threshold    = var.backlog_alert_age_seconds
          duration     = "300s"
          aligner      = "ALIGN_MAX"
        }]
        documentation = "Messages wait on subscription `${name}` (topic `${consumer.topic}`). See the backlog with `python -m functions.ops backlog`; once the consumer is healthy again, `python -m functions.ops seek ${name} --to <a time before the oldest>` offers them again."
      }
    },
    {
      for topic in [local.dead_letter_topic] : "dead-letters-${topic}" => {
        display_name = "vas: dead letters on ${topic}"
        conditions = [
          {
            display_name = "a message was forwarded to ${topic}"
            filter       = "${local.subscription_metric}/dead_letter_message_count\" AND resource.labels.subscription_id = one_of(${join(", ", formatlist("\"%s\"", local.dead_lettering_subscriptions))})"
            threshold    = 0
            duration     = "0s"
            aligner      = "ALIGN_DELTA"
          },
          {
            # Dead letters nobody has stored for replay yet: the ops consumer is down or failing.
            display_name = "${topic} is not empty"
            filter       = "${local.subscription_metric}/num_undelivered_messages\" AND resource.labels.subscription_id = one_of(${join(", ", formatlist("\"%s\"", local.dead_letter_subscriptions))})"
            threshold    = 0
            duration     = "300s"
            aligner      = "ALIGN_MAX"
          },
        ]
        documentation = "Messages exhausted their delivery attempts and went to `${topic}`. List them with `python -m functions.ops dead-letters`, fix the cause, then `python -m functions.ops replay MESSAGE_ID` (or `--all`)."
      }
    },
  )
}

resource "google_monitoring_alert_policy" "stalled_delivery" {
  for_each     = local.alert_policies
  display_name = each.value.display_name
  combiner     = "OR"

  dynamic "conditions" {
    for_each = each.value.conditions
    content {
      display_name = conditions.value.display_name
      condition_threshold {
        filter          = conditions.value.filter
        comparison      = "COMPARISON_GT"
        threshold_value = conditions.value.threshold
        duration        = conditions.value.duration
        aggregations {
          alignment_period   = "60s"
          per_series_aligner = conditions.value.aligner
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = each.value.documentation
  }

  notification_channels = var.alert_notification_channels
  user_labels           = { app = "vas" }

  depends_on = [google_project_service.api, google_pubsub_subscription.consumer]
}
