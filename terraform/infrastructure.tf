# What each service needs deployed beyond its catalog entries: its Firestore composite indexes and TTL
# collections, the secrets and plain settings its functions read, declared in its own folder
# (functions/<service>/infrastructure.yaml), merged with the platform's part (shared/infrastructure.yaml:
# every secret's definition, the platform's own TTL collections) as shared/infrastructure.py merges
# them. Nothing here or in firestore.tf, secrets.tf, functions.tf, iam.tf names a service: declare the
# need in the service's file and `terraform apply`. google_firestore_database.default (firestore.tf)
# refuses every problem of local.infrastructure_problems.

locals {
  infrastructure_texts = merge(
    { "shared/infrastructure.yaml" = file("${path.module}/../shared/infrastructure.yaml") },
    { for part in fileset("${path.module}/../functions", "*/infrastructure.yaml") :
    "functions/${part}" => file("${path.module}/../functions/${part}") },
  )
  # File name (as shared/infrastructure.py names it) -> content; a file of comments
  # only declares nothing (yamldecode refuses a text without a document).
  infrastructure_files = {
    for file, text in local.infrastructure_texts :
    file => length(regexall("(?m)^[^#\\s]", text)) == 0 ? null : yamldecode(text)
  }
  # The keys each file may declare, by level ("" the file, "firestore." and "reads." its sections).
  infrastructure_allowed = {
    platform = { "" = ["firestore", "secrets"], "firestore." = ["ttl_collections"], "reads." = [] }
    service = {
      "" = ["firestore", "reads"], "firestore." = ["indexes", "ttl_collections"], "reads." = ["secrets", "settings"]
    }
  }
  # Each file's declarations, every section present (empty where the file says nothing).
  infrastructure_parts = {
    for file, part in local.infrastructure_files : file => {
      kind    = file == "shared/infrastructure.yaml" ? "platform" : "service"
      service = split("/", file)[1]
      declared = {
        ""           = try(keys(part), [])
        "firestore." = try(keys(part.firestore), [])
        "reads."     = try(keys(part.reads), [])
      }
      # merge() and flatten() take a missing or empty section as empty, whatever the shape of the others.
      indexes         = merge(try(part.firestore.indexes, null))
      ttl_collections = compact(flatten([try(part.firestore.ttl_collections, null)]))
      secrets         = compact(flatten([try(part.reads.secrets, null)]))
      settings        = compact(flatten([try(part.reads.settings, null)]))
    }
  }
  platform_infrastructure = local.infrastructure_files["shared/infrastructure.yaml"]

  # Service -> the secrets and plain settings its functions read, as its file declares them.
  infrastructure_reads = {
    for file, part in local.infrastructure_parts : part.service => { secrets = part.secrets, settings = part.settings }
    if part.kind == "service"
  }

  # name -> the files declaring it, for index names and TTL collections; index shape -> the names of it.
  index_declared_in = { for d in flatten([
    for file, part in local.infrastructure_parts : [for name in keys(part.indexes) : { name = name, file = file }]
  ]) : d.name => d.file... }
  ttl_declared_in = { for d in flatten([
    for file, part in local.infrastructure_parts : [for name in part.ttl_collections : { name = name, file = file }]
  ]) : d.name => d.file... }
  index_names_of_shape = {
    for name, index in local.firestore_composite_indexes :
    "${try(index.collection, "")} ${jsonencode(try(index.fields, []))}" => name...
  }

  # Everything shared/infrastructure.py refuses, one sentence each; firestore.tf's database refuses them all.
  infrastructure_problems = concat(
    flatten([
      for file, part in local.infrastructure_parts : [
        for level, names in part.declared : [
          for name in names : "${file}: ${level}${name} cannot be declared here"
          if !contains(local.infrastructure_allowed[part.kind][level], name)
        ]
      ]
    ]),
    [
      for name, files in local.index_declared_in : "firestore index ${name} is declared twice: in ${join(" and ", files)}"
      if length(files) > 1
    ],
    [
      for collection, files in local.ttl_declared_in :
      "TTL collection ${collection} is declared twice: in ${join(" and ", files)}" if length(files) > 1
    ],
    [
      for shape, names in local.index_names_of_shape :
      "firestore indexes ${join(" and ", names)} are the same index (${shape})" if length(names) > 1
    ],
    [
      for name, index in local.firestore_composite_indexes : "firestore index ${name} names no collection"
      if !can(regex("^.+$", index.collection))
    ],
    flatten([
      for name, index in local.firestore_composite_indexes : [
        for field in try(index.fields, [null]) :
        "firestore index ${name}: ${jsonencode(field)} is not [field, ASCENDING | DESCENDING | CONTAINS]"
        if try(length(field), 0) != 2 || !can(regex("^.+$", field[0])) || !can(regex("^(ASCENDING|DESCENDING|CONTAINS)$", field[1]))
      ]
    ]),
    flatten([
      for service, reads in local.infrastructure_reads : concat(
        [
          for missing in setsubtract([service], local.services) :
          "functions/${service}/infrastructure.yaml: ${service} has no function in the catalog to give it to"
        ],
        [
          for secret in reads.secrets :
          "functions/${service}/infrastructure.yaml reads secret ${secret}, which shared/infrastructure.yaml does not define"
          if !contains(keys(local.secrets), secret)
        ],
        [
          for setting in reads.settings :
          "functions/${service}/infrastructure.yaml reads setting ${setting}, which terraform/functions.tf setting_values does not give"
          if !contains(keys(local.setting_values), setting)
        ],
      )
    ]),
  )
}
