# The one event catalog (shared/catalog.yaml) drives topics, subscriptions, functions and schedules.
# Nothing here lists a topic or a function by hand: add it to the catalog and `terraform apply`.
# tests/unit/test_terraform.py fails if a resource stops iterating over the catalog.

locals {
  catalog  = yamldecode(file("${path.module}/../shared/catalog.yaml"))
  defaults = local.catalog.defaults

  topics            = local.catalog.topics
  dead_letter_topic = local.catalog.dead_letter_topic
  webhooks          = local.catalog.webhooks
  schedules         = local.catalog.schedules

  # Same rule as shared/catalog.py parse(): a consumer's own field wins over `defaults`.
  consumers = {
    for name, consumer in local.catalog.consumers : name => {
      topic                 = consumer.topic
      source                = consumer.source
      entry_point           = consumer.entry_point
      dead_letter           = try(consumer.dead_letter, true)
      max_delivery_attempts = try(consumer.max_delivery_attempts, local.defaults.max_delivery_attempts)
      min_backoff_seconds   = try(consumer.min_backoff_seconds, local.defaults.min_backoff_seconds)
      max_backoff_seconds   = try(consumer.max_backoff_seconds, local.defaults.max_backoff_seconds)
      ack_deadline_seconds  = try(consumer.ack_deadline_seconds, local.defaults.ack_deadline_seconds)
    }
  }

  # A service is the folder under functions/ (functions/notify/main.py -> notify): one runtime
  # service account each, so a service's consumers and webhooks share exactly one identity.
  service_of = {
    for name, function in merge(local.consumers, local.webhooks) : name => split("/", function.source)[1]
  }
  services = toset(values(local.service_of))
}
