# The event catalog drives topics, subscriptions, functions and schedules: the platform's part
# (shared/catalog.yaml) merged with every service's own (functions/<service>/catalog.yaml), as
# shared/catalog.py merges them. Nothing here lists a topic, a function or a service by hand: add it
# to a catalog file and `terraform apply`. tests/unit/test_terraform.py fails if a resource stops
# iterating over the catalog.

locals {
  catalog_sections = ["topics", "consumers", "webhooks", "schedules"]
  # File name (as shared/catalog.py names it) -> content; the platform's first.
  catalog_files = merge(
    { "shared/catalog.yaml" = yamldecode(file("${path.module}/../shared/catalog.yaml")) },
    { for part in fileset("${path.module}/../functions", "*/catalog.yaml") :
    "functions/${part}" => yamldecode(file("${path.module}/../functions/${part}")) },
  )
  platform_catalog = local.catalog_files["shared/catalog.yaml"]
  catalog = merge(
    { dead_letter_topic = local.platform_catalog.dead_letter_topic, defaults = local.platform_catalog.defaults },
    # A filter, not a conditional (`… == null ? {} : part[section]`): the empty object and a section whose
    # entries differ in shape (a topic with a list of attributes) have no common type.
    { for section in local.catalog_sections : section => merge([
      for part in values(local.catalog_files) : part[section] if try(part[section], null) != null
    ]...) },
  )
  # "<section> <name>" -> the files declaring it, when more than one does (merge() would keep the last);
  # the topic resource's precondition refuses them, as shared/catalog.py does.
  catalog_declarations = flatten([
    for file, part in local.catalog_files : [
      for section in local.catalog_sections : [
        for name in try(keys(part[section]), []) : { key = "${section} ${name}", file = file }
      ]
    ]
  ])
  catalog_declared_twice = {
    for key, files in { for d in local.catalog_declarations : d.key => d.file... } : key => files if length(files) > 1
  }
  defaults = local.catalog.defaults

  topics            = local.catalog.topics
  dead_letter_topic = local.catalog.dead_letter_topic
  webhooks          = local.catalog.webhooks
  schedules         = local.catalog.schedules

  # Topics whose messages carry an ordering key (`ordering_key: <field>`, checked by shared/catalog.py):
  # their subscriptions deliver one key's messages one at a time, in order.
  ordered_topics = toset([for name, topic in local.topics : name if try(topic.ordering_key, null) != null])

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
      filter                = try(consumer.filter, null)
    }
  }

  # A service is the folder under functions/ (functions/notify/main.py -> notify): one runtime
  # service account each, so a service's consumers and webhooks share exactly one identity.
  service_of = {
    for name, function in merge(local.consumers, local.webhooks) : name => split("/", function.source)[1]
  }
  services = toset(values(local.service_of))
}
