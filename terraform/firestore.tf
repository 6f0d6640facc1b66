# Firestore in native mode holds all state (accounts, ledger, messages, processed markers, outbox).

resource "google_firestore_database" "default" {
  name        = "(default)" # the client libraries' default database: no setting needed in code
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # Keep the data when Terraform forgets the database; deleting it is a deliberate manual act.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.api]
}

# Composite indexes the queries need. The ledger's expiry sweep filters accounts on one field
# (`next_expiry <= now`), which Firestore indexes automatically; a query that filters or orders
# on two fields adds its index here.
locals {
  firestore_composite_indexes = {
    # Customer care's `python -m functions.transfers history MSISDN`: a subscriber's transfers,
    # sent or received (`parties` array-contains), newest first.
    transfers_by_party = { collection = "transfers", fields = [["parties", "CONTAINS"], ["at", "DESCENDING"]] }
    # Missed calls (functions/missed_calls/queries.py): a callee's pending calls, oldest first,
    # delivered on attach or by the clock.
    missed_calls_pending = { collection = "missed_calls", fields = [["callee", "ASCENDING"], ["status", "ASCENDING"], ["called_at", "ASCENDING"]] }
    # The voicemail line (functions/missed_calls/edge_voicemail.py): a mailbox's messages, oldest first.
    voicemails_of_callee = { collection = "voicemails", fields = [["callee", "ASCENDING"], ["deleted", "ASCENDING"], ["recorded_at", "ASCENDING"]] }
    # The clock's sweep of voice messages past their retention.
    voicemails_expired = { collection = "voicemails", fields = [["deleted", "ASCENDING"], ["delete_after", "ASCENDING"]] }
  }
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

# Idempotency records expire: Firestore deletes a document of these collections once its
# `expire_at` has passed (shared/store.py EXPIRING and MARKER_TTL: processed markers live 30 days,
# far beyond Pub/Sub's 7-day retention; gate leases once they lapse; functions/transfers/vouchers.py
# EXPIRING: wrong pay-card codes once they leave their 24-hour window). Deletion runs within a day
# of the time, never before it.
locals {
  firestore_ttl_collections = ["processed", "gates", "voucher_attempts", "voucher_card_attempts"]
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
