# Firestore in native mode holds all state (accounts, ledger, messages, processed markers, outbox).

resource "google_firestore_database" "default" {
  name        = "(default)" # the client libraries' default database: no setting needed in code
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # Keep the data when Terraform forgets the database; deleting it is a deliberate manual act.
  deletion_policy = "ABANDON"

  lifecycle {
    precondition {
      # The one resource every deployment has exactly once: each problem is reported once, before any
      # index, TTL policy, secret grant or setting is planned from the declarations.
      condition     = length(local.infrastructure_problems) == 0
      error_message = "infrastructure.yaml declarations refused:\n  ${join("\n  ", local.infrastructure_problems)}"
    }
  }

  depends_on = [google_project_service.api]
}

# Composite indexes the queries need, as each service declares them (functions/<service>/infrastructure.yaml,
# merged by infrastructure.tf). The ledger's expiry sweep filters accounts on one field
# (`next_expiry <= now`), which Firestore indexes automatically; a query that filters or orders on two
# fields adds its index to its service's file.
locals {
  firestore_composite_indexes = merge([for part in values(local.infrastructure_parts) : part.indexes]...)
}

resource "google_firestore_index" "composite" {
  for_each   = local.firestore_composite_indexes
  database   = google_firestore_database.default.name
  collection = each.value.collection

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value[0]
      order        = fields.value[1] == "CONTAINS" ? null : fields.value[1]
      array_config = fields.value[1] == "CONTAINS" ? "CONTAINS" : null
    }
  }
}

# Idempotency records expire: Firestore deletes a document of these collections once its `expire_at`
# has passed. The platform's (shared/infrastructure.yaml: processed markers) and each
# service's own (functions/<service>/infrastructure.yaml, e.g. transfers' wrong pay-card codes), which
# tests/unit/test_terraform.py holds to the EXPIRING tuples of the Python that writes them. Deletion
# runs within a day of the time, never before it.
locals {
  firestore_ttl_collections = distinct(flatten([for part in values(local.infrastructure_parts) : part.ttl_collections]))
}

resource "google_firestore_field" "ttl" {
  for_each   = toset(local.firestore_ttl_collections)
  database   = google_firestore_database.default.name
  collection = each.value
  field      = "expire_at"

  ttl_config {}
  # Nothing queries the field: no single-field indexes, whose writes a TTL field would only slow.
  index_config {}
}
