# Cloud Scheduler jobs (catalog `schedules`) publish a clock event to their topic. The Cloud
# Scheduler service agent publishes with its own role, so no extra grant is needed.
#
# The body is fixed, so every tick carries the same envelope id. The attribute below tells the
# runtime (shared/runtime.py, SCHEDULE_ATTRIBUTE) to make the id unique per Pub/Sub message;
# without it the processed marker would drop every tick after the first.

resource "google_cloud_scheduler_job" "schedule" {
  for_each    = local.schedules
  name        = "vas-${each.key}"
  region      = var.region
  description = each.value.description
  schedule    = each.value.cron
  time_zone   = var.schedule_time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.topic].id
    # An envelope (shared/events.py Envelope) of the schedule's topic with an empty payload.
    data = base64encode(jsonencode({
      id             = "schedule:${each.key}"
      type           = each.value.topic
      occurred_at    = "1970-01-01T00:00:00Z"
      correlation_id = "schedule:${each.key}"
      source         = "cloud-scheduler/${each.key}"
      data           = {}
    }))
    attributes = {
      vas_schedule = each.key
    }
  }

  retry_config {
    retry_count = 3
  }

  depends_on = [google_project_service.api]
}
