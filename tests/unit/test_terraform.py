"""terraform/*.tf, read offline with python-hcl2, held against the event catalog (shared/catalog.py).

Each check is a function over the parsed configuration, run on the real files and on mutants of
them (a hard-coded topic list, a dropped dead-letter policy…) to prove the check can fail.
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml
from hcl2.utils import SerializationOptions

from shared import catalog as catalog_module
from shared import infrastructure, runtime, store
from shared.events import Envelope
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


class Terraform:
    """Every .tf file of a directory, parsed: resources, locals, outputs, and the raw text."""

    def __init__(self, texts: dict[str, str]):
        self.texts = texts
        self.resources: dict[str, dict[str, dict]] = {}
        self.locals: dict[str, object] = {}
        self.outputs: dict[str, dict] = {}
        for text in texts.values():
            parsed = hcl2.loads(text, serialization_options=OPTIONS)
            for block in parsed.get("resource", []):
                for rtype, named in block.items():
                    self.resources.setdefault(rtype, {}).update(named)
            for block in parsed.get("locals", []):
                self.locals.update(block)
            for block in parsed.get("output", []):
                self.outputs.update(block)

    @classmethod
    def read(cls, directory: Path = TF_DIR) -> Terraform:
        return cls({p.name: p.read_text() for p in sorted(directory.glob("*.tf"))})

    def mutated(self, file: str, old: str, new: str) -> Terraform:
        """A copy with one edit, for proving a check fails."""
        assert old in self.texts[file], f"mutation target not found in {file}: {old!r}"
        return Terraform({**self.texts, file: self.texts[file].replace(old, new)})

    def resource(self, rtype: str, name: str) -> dict:
        return self.resources[rtype][name]

    @property
    def text(self) -> str:
        return "\n".join(self.texts.values())

    def literals(self) -> set[str]:
        """Every string literal of the configuration, also those quoted inside expressions."""
        found: set[str] = set()

        def walk(node) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    walk(key)
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)
            elif isinstance(node, str):
                found.add(node)
                found.update(re.findall(r'"([^"$]*)"', node))

        for text in self.texts.values():
            walk(hcl2.loads(text, serialization_options=OPTIONS))
        return found


def block(body: dict, name: str) -> dict:
    """The single nested block `name` of a resource body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block, found {blocks!r}"
    return blocks[0]


def dynamic(body: dict, name: str) -> dict | None:
    for item in body.get("dynamic", []):
        if name in item:
            return item[name]
    return None


@functools.cache
def real() -> Terraform:
    return Terraform.read()


@pytest.fixture
def tf() -> Terraform:
    return real()


@pytest.fixture
def catalog() -> catalog_module.Catalog:
    return catalog_module.load()


@pytest.fixture
def infra() -> infrastructure.Infrastructure:
    return infrastructure.load()


def services_of(catalog: catalog_module.Catalog) -> set[str]:
    """The service folders under functions/ that Terraform gives one runtime identity each."""
    return {Path(f.source).parts[1] for f in [*catalog.consumers.values(), *catalog.webhooks.values()]}


# --- checks -----------------------------------------------------------------------------------

# Which catalog section each catalog-driven resource iterates over.
FOR_EACH = {
    ("google_pubsub_topic", "topic"): "${local.topics}",
    ("google_pubsub_subscription", "consumer"): "${local.consumers}",
    ("google_cloudfunctions2_function", "function"): "${local.functions}",
    ("google_cloud_scheduler_job", "schedule"): "${local.schedules}",
    ("google_cloud_run_v2_service_iam_member", "push_invoker"): "${local.consumers}",
    ("google_cloud_run_v2_service_iam_member", "webhook_public"): "${local.webhooks}",
}


def check_reads_the_catalog(tf: Terraform) -> None:
    """local.catalog merges the files shared/catalog.py merges: the platform's, then each service's part."""
    files = tf.locals["catalog_files"]
    platform = re.search(r'yamldecode\(file\("\$\{path\.module\}/([^"$]+)"\)\)', files)
    assert platform, f"local.catalog_files must yamldecode the platform's catalog file, is {files}"
    assert (TF_DIR / platform.group(1)).resolve() == catalog_module.PLATFORM_FILE.resolve()
    parts = re.search(r'fileset\("\$\{path\.module\}/([^"]+)", "([^"]+)"\)', files)
    assert parts, "the services' catalog files must be found by fileset(), not listed by hand"
    assert (TF_DIR / parts.group(1)).resolve() == catalog_module.SERVICES_DIR.resolve()
    assert parts.group(2) == catalog_module.SERVICE_PART, f"fileset() looks for {parts.group(2)}"
    assert tf.locals["catalog_sections"] == list(catalog_module.SECTIONS), "a section is not merged"
    assert "values(local.catalog_files)" in tf.locals["catalog"], "local.catalog is not the merge of every file"
    for section in ("topics", "webhooks", "schedules", "dead_letter_topic", "defaults"):
        assert tf.locals[section] == f"${{local.catalog.{section}}}", f"local.{section} is not the catalog's"
    assert "in local.catalog.consumers" in tf.locals["consumers"]


def check_catalog_resources_iterate_the_catalog(tf: Terraform) -> None:
    for (rtype, name), expected in FOR_EACH.items():
        body = tf.resource(rtype, name)
        assert body.get("for_each") == expected, f"{rtype}.{name} for_each is {body.get('for_each')}, not {expected}"
        if rtype != "google_cloud_run_v2_service_iam_member":
            assert body["name"] in ("${each.key}", "vas-${each.key}"), f"{rtype}.{name} is not named by the catalog"
    # Nothing of these kinds may exist outside the catalog loops (a hand-written extra topic).
    for rtype in {rtype for rtype, _ in FOR_EACH}:
        declared = {name for name in tf.resources.get(rtype, {})}
        expected = {name for t, name in FOR_EACH if t == rtype}
        assert declared == expected, f"{rtype}: {sorted(declared - expected)} are not driven by the catalog"


def check_no_hard_coded_topics(tf: Terraform, catalog: catalog_module.Catalog) -> None:
    listed = tf.literals() & set(catalog.topics)
    assert not listed, f"topic names written in Terraform instead of read from the catalog: {sorted(listed)}"


def check_consumers_follow_the_catalog_rules(tf: Terraform) -> None:
    """local.consumers maps every Consumer field, defaults applied as shared/catalog.py parse() does."""
    expression = tf.locals["consumers"]
    fields = set(catalog_module.Consumer.model_fields) - {"name"}
    for field in fields:
        assert re.search(rf"\b{field} = ", expression), f"local.consumers lacks {field}"
    for field in catalog_module.read()["defaults"]:
        assert f"{field} = try(consumer.{field}, local.defaults.{field})" in expression, \
            f"local.consumers: {field} must fall back to the catalog's defaults"
    assert "dead_letter = try(consumer.dead_letter, true)" in expression


def check_subscription_delivery_policy(tf: Terraform) -> None:
    sub = tf.resource("google_pubsub_subscription", "consumer")
    assert sub["topic"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    assert sub["ack_deadline_seconds"] == "${each.value.ack_deadline_seconds}"
    retry = block(sub, "retry_policy")
    assert retry["minimum_backoff"] == "${each.value.min_backoff_seconds}s"
    assert retry["maximum_backoff"] == "${each.value.max_backoff_seconds}s"
    dead_letter = dynamic(sub, "dead_letter_policy")
    assert dead_letter is not None, "the subscriptions lost their dead-letter policy"
    assert dead_letter["for_each"] == "${each.value.dead_letter ? [each.value] : []}"
    content = block(dead_letter, "content")
    assert content["dead_letter_topic"] == "${google_pubsub_topic.topic[local.dead_letter_topic].id}"
    assert content["max_delivery_attempts"] == "${dead_letter_policy.value.max_delivery_attempts}"
    assert sub["enable_message_ordering"] == "${contains(local.ordered_topics, each.value.topic)}", \
        "message ordering is not the catalog's"
    assert sub.get("filter") == "${each.value.filter}", "the consumers' filters are not the catalog's"


def check_push_is_authenticated_to_the_topic_path(tf: Terraform) -> None:
    from infra.topology import push_endpoint  # the local stack's path, which functions-framework reads

    sub = tf.resource("google_pubsub_subscription", "consumer")
    push = block(sub, "push_config")
    url = "${google_cloudfunctions2_function.function[each.key].service_config[0].uri}"
    assert push["push_endpoint"] == push_endpoint(url, "${var.project}", "${each.value.topic}")
    token = block(push, "oidc_token")
    assert token["service_account_email"] == "${google_service_account.push_invoker.email}"
    assert token["audience"] == url
    invoker = tf.resource("google_cloud_run_v2_service_iam_member", "push_invoker")
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["member"] == "serviceAccount:${google_service_account.push_invoker.email}"
    assert invoker["name"] == "${google_cloudfunctions2_function.function[each.key].name}"


def check_functions_built_from_the_catalog(tf: Terraform) -> None:
    functions = tf.locals["functions"]
    assert "in local.consumers" in functions and "in local.webhooks" in functions, \
        "local.functions must hold every consumer and every webhook of the catalog"
    function = tf.resource("google_cloudfunctions2_function", "function")
    build = block(function, "build_config")
    assert build["runtime"] == "python311"
    assert build["entry_point"] == "${each.value.entry_point}"
    assert build["environment_variables"] == {"GOOGLE_FUNCTION_SOURCE": "${each.value.source}"}
    storage = block(block(build, "source"), "storage_source")
    assert storage["object"] == "${google_storage_bucket_object.source.name}", "not the one source archive"
    service = block(function, "service_config")
    # What differs between a consumer and a webhook comes from local.functions, checked by value below.
    wired = {"ingress_settings": "${each.value.ingress}", "timeout_seconds": "${each.value.timeout_seconds}",
             "min_instance_count": "${each.value.min_instances}",
             "service_account_email": "${google_service_account.runtime[each.value.service].email}"}
    for setting, expected in wired.items():
        assert service[setting] == expected, f"{setting} is {service[setting]}, not {expected}"
    assert "VAS_FUNCTION = each.key" in service["environment_variables"]
    assert "each.value.env" in service["environment_variables"], "the webhooks lost VAS_WEBHOOK_BASE_URL"
    assert "event_trigger" not in function, "Eventarc would create its own subscription"


def check_every_webhook_has_a_url_output(tf: Terraform) -> None:
    value = tf.outputs["webhook_urls"]["value"]
    assert isinstance(value, str) and re.fullmatch(
        r"\$\{\{for (\w+), \w+ in google_cloudfunctions2_function\.function : \1 => local\.webhook_url\[\1\]"
        r" if contains\(keys\(local\.webhooks\), \1\)\}\}", value), value
    assert "for name in keys(local.webhooks)" in tf.locals["webhook_url"]
    assert "in google_pubsub_topic.topic" in tf.outputs["topic_names"]["value"]


def check_dead_letter_iam(tf: Terraform) -> None:
    publisher = tf.resource("google_pubsub_topic_iam_member", "dead_letter_publisher")
    assert publisher["topic"] == "${google_pubsub_topic.topic[local.dead_letter_topic].name}"
    assert (publisher["role"], publisher["member"]) == ("roles/pubsub.publisher", "${local.pubsub_service_agent}")
    acknowledger = tf.resource("google_pubsub_subscription_iam_member", "dead_letter_acknowledger")
    assert "in local.consumers" in acknowledger["for_each"] and "if consumer.dead_letter" in acknowledger["for_each"]
    assert (acknowledger["role"], acknowledger["member"]) == ("roles/pubsub.subscriber", "${local.pubsub_service_agent}")
    assert "gcp-sa-pubsub.iam.gserviceaccount.com" in tf.locals["pubsub_service_agent"]


def check_idempotency_records_expire(tf: Terraform) -> None:
    """A TTL policy on `expire_at` for every collection the declarations name (infrastructure.tf merges them)."""
    field = tf.resource("google_firestore_field", "ttl")
    assert field["for_each"] == "${toset(local.firestore_ttl_collections)}" and field["collection"] == "${each.value}"
    assert field["field"] == store.EXPIRES_AT, f"the TTL policy is on {field['field']}, not {store.EXPIRES_AT}"
    assert field.get("ttl_config") == [{}], "the field is declared without its TTL policy"
    assert "for part in values(local.infrastructure_parts) : part.ttl_collections" in \
        tf.locals["firestore_ttl_collections"], "the TTL collections are not the declarations' (a hand list?)"


def check_reads_the_infrastructure_declarations(tf: Terraform) -> None:
    """Indexes, TTL collections, secret grants and settings come from the files shared/infrastructure.py merges."""
    texts = tf.locals["infrastructure_texts"]
    platform = re.search(r'file\("\$\{path\.module\}/([^"$]+)"\)', texts)
    assert platform and (TF_DIR / platform.group(1)).resolve() == infrastructure.PLATFORM_FILE.resolve()
    parts = re.search(r'fileset\("\$\{path\.module\}/([^"]+)", "([^"]+)"\)', texts)
    assert parts, "the services' declaration files must be found by fileset(), not listed by hand"
    assert (TF_DIR / parts.group(1)).resolve() == infrastructure.SERVICES_DIR.resolve()
    assert parts.group(2) == infrastructure.SERVICE_PART, f"fileset() looks for {parts.group(2)}"
    derived = {"firestore_composite_indexes": "in values(local.infrastructure_parts) : part.indexes",
               "secrets_used_by": "for service, reads in local.infrastructure_reads : service =>",
               "service_env": "for service, reads in local.infrastructure_reads : service =>"}
    for name, expected in derived.items():
        assert expected in tf.locals[name], f"local.{name} is not the declarations' (a hand list?)"
    assert tf.locals["secrets"] == "${local.platform_infrastructure.secrets}"
    wired = {("google_firestore_index", "composite"): "${local.firestore_composite_indexes}",
             ("google_secret_manager_secret", "secret"): "${local.secrets}"}
    for (rtype, name), expected in wired.items():
        assert tf.resource(rtype, name)["for_each"] == expected, f"{rtype}.{name} does not iterate {expected}"
    accessor = tf.resource("google_secret_manager_secret_iam_member", "runtime_secret_accessor")
    assert "for service, secrets in local.secrets_used_by" in accessor["for_each"]
    service = block(tf.resource("google_cloudfunctions2_function", "function"), "service_config")
    assert dynamic(service, "secret_environment_variables")["for_each"] == \
        "${toset(lookup(local.secrets_used_by, each.value.service, []))}", "a function gets other services' secrets"
    assert "lookup(local.service_env, each.value.service, {})" in service["environment_variables"]
    condition = block(block(tf.resource("google_firestore_database", "default"), "lifecycle"), "precondition")
    assert condition["condition"] == "${length(local.infrastructure_problems) == 0}", "nothing refuses a conflict"


def string_constants(folder: Path) -> dict[str, str]:
    """Every module-level `NAME = "text"` of the Python under a folder, text -> name (its collections among them)."""
    found: dict[str, str] = {}
    for module in sorted(folder.rglob("*.py")):
        for node in ast.parse(module.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                    isinstance(node.value.value, str):
                found.update({node.value.value: target.id for target in node.targets if isinstance(target, ast.Name)})
    return found


def expiring_in_python(folder: Path) -> set[str]:
    """The collections the Python under a folder declares expiring: its module-level `EXPIRING = (NAME, ...)`."""
    collections: set[str] = set()
    for module in sorted(folder.rglob("*.py")):
        tree = ast.parse(module.read_text())
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Constant) for target in node.targets if isinstance(target, ast.Name)}
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "EXPIRING" for t in node.targets):
                assert isinstance(node.value, ast.Tuple), f"{module}: EXPIRING is not a tuple of collection names"
                for item in node.value.elts:
                    name = item.value if isinstance(item, ast.Constant) else constants.get(getattr(item, "id", ""))
                    assert isinstance(name, str), f"{module}: EXPIRING holds {ast.unparse(item)}, not a collection"
                    collections.add(name)
    return collections


def owner_folder(file: str) -> Path:
    """The folder whose Python a declaration file speaks for: shared/ for the platform's, else the service's."""
    return REPO / Path(file).parent


def check_expiring_collections_are_declared(infra: infrastructure.Infrastructure) -> None:
    """Each owner's TTL collections are exactly the EXPIRING collections of its Python (shared/store.py for the
    platform, e.g. functions/transfers/documents.py for transfers): none grows forever, no policy is stale."""
    owners = {infrastructure.PLATFORM_FILE, *(path.parent / "infrastructure.yaml"
                                              for path in infrastructure.SERVICES_DIR.glob("*/__init__.py"))}
    for path in sorted(owners):
        file = str(path.relative_to(REPO))
        python, declared = expiring_in_python(path.parent), infra.ttl_collections_of(file)
        assert python == declared, (f"{path.parent.name}: its Python expires {sorted(python)}, {file} declares TTL "
                                    f"policies for {sorted(declared)}")


def _drop_ttl(collection: str) -> object:
    def edit(part: dict) -> None:
        part["firestore"]["ttl_collections"].remove(collection)
    return edit


def _add_ttl(collection: str) -> object:
    def edit(part: dict) -> None:
        part["firestore"]["ttl_collections"].append(collection)
    return edit


DECLARATION_MUTANTS = {
    "processed markers kept forever": ("shared/infrastructure.yaml", _drop_ttl("processed")),
    "wrong pay-card codes kept forever": ("functions/transfers/infrastructure.yaml", _drop_ttl("voucher_card_attempts")),
    "a TTL policy deleting transfers' records": ("functions/transfers/infrastructure.yaml", _add_ttl("transfers")),
}


# --- the real configuration --------------------------------------------------------------------

def test_terraform_reads_the_catalog_file_python_loads(tf):
    check_reads_the_catalog(tf)


def test_topics_subscriptions_functions_and_schedules_come_from_the_catalog(tf, catalog):
    check_catalog_resources_iterate_the_catalog(tf)
    check_no_hard_coded_topics(tf, catalog)


def test_consumer_settings_apply_the_catalog_defaults_like_python(tf):
    check_consumers_follow_the_catalog_rules(tf)


def test_subscriptions_take_retry_and_dead_letter_policy_from_the_catalog(tf):
    check_subscription_delivery_policy(tf)


def test_push_subscriptions_carry_an_oidc_token_to_the_topic_path(tf):
    check_push_is_authenticated_to_the_topic_path(tf)


def test_each_function_is_built_from_its_catalog_source_and_entry_point(tf):
    check_functions_built_from_the_catalog(tf)


def test_every_webhook_gets_a_public_url_output(tf):
    check_every_webhook_has_a_url_output(tf)
    public = tf.resource("google_cloud_run_v2_service_iam_member", "webhook_public")
    assert (public["role"], public["member"]) == ("roles/run.invoker", "allUsers")


def test_pubsub_service_agent_may_dead_letter(tf):
    check_dead_letter_iam(tf)


def test_every_catalog_source_exists_and_defines_its_entry_point(catalog):
    for name, function in [*catalog.consumers.items(), *catalog.webhooks.items()]:
        source = REPO / function.source
        assert source.is_file(), f"{name}: {function.source} does not exist"
        assert re.search(rf"^def {function.entry_point}\(", source.read_text(), re.M), \
            f"{name}: {function.source} defines no {function.entry_point}()"


def granted_secrets(infra: infrastructure.Infrastructure) -> dict[str, list[str]]:
    """Service → the VAS_* variables Terraform fills from Secret Manager for it (its `reads.secrets`).

    That Terraform grants exactly these is test_terraform_merges_the_infrastructure_declarations_as_python_does.
    """
    return {service: [infra.secrets[name].env for name in reads.secrets] for service, reads in infra.reads.items()}


def configured_settings(infra: infrastructure.Infrastructure) -> dict[str, list[str]]:
    """Service → the plain VAS_* settings Terraform gives its functions (its `reads.settings`)."""
    return {service: [f"VAS_{name.upper()}" for name in reads.settings] for service, reads in infra.reads.items()}


def test_outside_the_local_stack_each_function_starts_with_what_terraform_gives_it_and_not_without(
        infra, catalog, monkeypatch):
    """No default stands in for a secret in the cloud: without one a function refusing to start is the safe side."""
    import functions_framework

    from shared import settings

    granted = granted_secrets(infra)
    every_secret = {variable for variables in granted.values() for variable in variables}
    configured = configured_settings(infra)
    every_setting = {variable for settings_ in configured.values() for variable in settings_}
    functions = {f.source: (f, name in catalog.webhooks) for name, f in
                 [*catalog.consumers.items(), *catalog.webhooks.items()]}
    monkeypatch.delenv("VAS_ENV", raising=False)
    try:
        for source, (function, webhook) in functions.items():
            service = Path(source).parts[1]
            secrets = granted.get(service, [])
            given = {variable: "from-secret-manager" for variable in secrets}
            if webhook:
                given["VAS_WEBHOOK_BASE_URL"] = "https://example.run.app"
            for variable in every_secret | every_setting | {"VAS_WEBHOOK_BASE_URL"}:
                monkeypatch.delenv(variable, raising=False)
            for variable in configured.get(service, {}):   # plain settings Terraform always gives
                monkeypatch.setenv(variable, "from-terraform")
            for left_out in [None, *given]:
                for variable, value in given.items():
                    if variable == left_out:
                        monkeypatch.delenv(variable)
                    else:
                        monkeypatch.setenv(variable, value)
                settings.get.cache_clear()
                if left_out is None:
                    functions_framework.create_app(function.entry_point, str(REPO / source))
                else:
                    with pytest.raises(settings.MissingSetting, match=left_out):
                        functions_framework.create_app(function.entry_point, str(REPO / source))
    finally:
        monkeypatch.undo()
        settings.get.cache_clear()


def imports_the_carrier(service: str) -> bool:
    """Whether any module of functions/<service>/ imports shared.carrier (it calls the Twilio API)."""
    import ast

    for module in (REPO / "functions" / service).glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = {alias.name for alias in node.names}
            if "shared.carrier" in names or isinstance(node, ast.ImportFrom) and (
                    node.module == "shared.carrier" or node.module == "shared" and "carrier" in names):
                return True
    return False


def test_every_service_that_calls_the_carrier_is_granted_the_twilio_credentials(infra, catalog):
    """Deployed, a service calling the Twilio API without the account's credentials fails every call."""
    granted = granted_secrets(infra)
    callers = {service for service in services_of(catalog) if imports_the_carrier(service)}
    assert {"notify", "missed_calls"} <= callers
    for service in callers:
        assert {"VAS_TWILIO_ACCOUNT_SID", "VAS_TWILIO_AUTH_TOKEN"} <= set(granted.get(service, [])), service


def test_secrets_and_settings_go_to_existing_settings_and_services(tf, infra, catalog):
    settings_env = {f"VAS_{field.upper()}" for field in Settings.model_fields}
    secrets = {secret.env for secret in infra.secrets.values()}
    assert secrets and secrets <= settings_env, f"secrets for unknown settings: {secrets - settings_env}"
    supplied = set(tf.locals["setting_values"])
    assert supplied <= set(Settings.model_fields), f"Terraform gives unknown settings: {supplied - set(Settings.model_fields)}"
    readers = set(infra.reads)
    assert readers <= services_of(catalog), f"declarations of services the catalog lacks: {readers - services_of(catalog)}"
    for service, reads in infra.reads.items():
        assert set(reads.settings) <= supplied, f"{service} reads settings Terraform does not give"


def test_runtime_identities_hold_no_broad_roles(tf):
    runtime_roles = tf.resource("google_project_iam_member", "runtime_firestore")
    assert runtime_roles["role"] == "roles/datastore.user"
    broad = re.findall(r'"(roles/(?:owner|editor|[\w.]*[Aa]dmin|iam\.serviceAccountUser))"', tf.text)
    assert not broad, f"broad roles granted: {broad}"
    publisher = tf.resource("google_pubsub_topic_iam_member", "runtime_publisher")
    assert "keys(local.topics)" in publisher["for_each"], "publisher must stay limited to the catalog's topics"


def test_source_archive_leaves_out_virtualenvs_tests_and_terraform(tf):
    text = tf.texts["source.tf"]
    for pattern in (".git/**", ".venv/**", ".venv-*/**", ".run/**", "tests/**", "terraform/**"):
        assert f'"{pattern}"' in text, f"the source archive would include {pattern}"
    assert re.search(r'source_dir\s*=\s*"\$\{path\.module\}/\.\."', text), "the archive is not the repository root"


def test_every_checkov_skip_says_why(tf):
    skips = re.findall(r"checkov:skip=(CKV_\w+)(.*)", tf.text)
    assert skips, "expected the justified skips (CMEK, public webhooks, bucket logs)"
    for check, reason in skips:
        assert len(reason.lstrip(": ").strip()) > 30, f"{check} is skipped without a reason"


def test_every_idempotency_collection_has_a_ttl_policy_on_its_expiry_field(tf):
    check_idempotency_records_expire(tf)


def test_indexes_ttl_secrets_and_settings_come_from_the_declaration_files(tf):
    check_reads_the_infrastructure_declarations(tf)


def check_names_no_service(tf: Terraform, catalog: catalog_module.Catalog) -> None:
    """What a service needs is declared in its folder: no service's name is written in Terraform."""
    named = tf.literals() & services_of(catalog)
    assert not named, f"services named in Terraform instead of declaring their needs in their folder: {sorted(named)}"


def test_terraform_names_no_service(tf, catalog):
    check_names_no_service(tf, catalog)


def test_a_service_named_in_terraform_is_caught(tf, catalog):
    mutant = tf.mutated("functions.tf", "  service_env = {\n", '  service_env = { notify = {} }\n  unused = {\n')
    with pytest.raises(AssertionError, match="notify"):
        check_names_no_service(mutant, catalog)


def test_the_collections_each_owner_expires_in_python_are_the_ttl_collections_it_declares(infra):
    check_expiring_collections_are_declared(infra)


@pytest.mark.parametrize("mutant", sorted(DECLARATION_MUTANTS))
def test_expiring_collections_check_fails_on_a_drifted_declaration(mutant):
    file, edit = DECLARATION_MUTANTS[mutant]
    raw = infrastructure.read()
    edit(raw[file])
    with pytest.raises(AssertionError):
        check_expiring_collections_are_declared(infrastructure.merge(raw))


def test_each_index_and_ttl_collection_is_a_collection_its_owner_names(infra):
    """An index or TTL policy on a collection the declaring service's Python never names is misplaced or stale."""
    for name, index in infra.indexes.items():
        owner = next(file for file, part in infrastructure.read().items()
                     if name in ((part or {}).get("firestore") or {}).get("indexes", {}))
        assert index.collection in string_constants(owner_folder(owner)), \
            f"index {name} of {owner} is on {index.collection}, which its Python does not name"
    for collection, owner in infra.ttl_collections.items():
        assert collection in string_constants(owner_folder(owner)), \
            f"{owner} declares a TTL policy on {collection}, which its Python does not name"


def test_stalled_deliveries_alert_the_operator_past_a_threshold(tf):
    check_alerts_reach_the_operator(tf)


def test_subscriptions_keep_acknowledged_messages_for_a_seek(tf):
    check_seek_can_deliver_acknowledged_messages_again(tf)


def test_scheduler_publishes_each_schedule_to_its_topic_with_the_tick_marker(tf):
    job = tf.resource("google_cloud_scheduler_job", "schedule")
    assert job["schedule"] == "${each.value.cron}"
    target = block(job, "pubsub_target")
    assert target["topic_name"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    assert target["attributes"] == {runtime.SCHEDULE_ATTRIBUTE: "${each.key}"}


def check_alerts_reach_the_operator(tf: Terraform) -> None:
    """Every stalled-delivery policy is built from local.alert_policies and goes to the notification channels."""
    policy = tf.resource("google_monitoring_alert_policy", "stalled_delivery")
    assert policy["for_each"] == "${local.alert_policies}"
    conditions = dynamic(policy, "conditions")
    assert conditions["for_each"] == "${each.value.conditions}", "a policy lost its conditions"
    threshold = block(block(conditions, "content"), "condition_threshold")
    assert threshold["filter"] == "${conditions.value.filter}"
    assert threshold["threshold_value"] == "${conditions.value.threshold}"
    assert threshold["comparison"] == "COMPARISON_GT"
    assert policy["notification_channels"] == "${var.alert_notification_channels}", "the alerts notify nobody"


def check_seek_can_deliver_acknowledged_messages_again(tf: Terraform) -> None:
    sub = tf.resource("google_pubsub_subscription", "consumer")
    assert sub.get("retain_acked_messages") is True, "`ops seek` could not re-deliver acknowledged messages"
    assert sub["message_retention_duration"] == "${var.subscription_message_retention}"


# --- the checks can fail -----------------------------------------------------------------------

MUTANTS = {
    "hard-coded topic list": (check_catalog_resources_iterate_the_catalog, "pubsub.tf",
                              "for_each = local.topics", 'for_each = toset(["sms.send", "sms.status"])'),
    "extra hand-written topic": (check_catalog_resources_iterate_the_catalog, "pubsub.tf",
                                 "# Topics and OUR OWN", 'resource "google_pubsub_topic" "extra" {\n  name = "x"\n}\n#'),
    "dropped dead-letter policy": (check_subscription_delivery_policy, "pubsub.tf",
                                   'dynamic "dead_letter_policy"', 'dynamic "no_dead_letter_policy"'),
    "fixed retry backoff": (check_subscription_delivery_policy, "pubsub.tf",
                            '"${each.value.min_backoff_seconds}s"', '"10s"'),
    "message ordering off": (check_subscription_delivery_policy, "pubsub.tf",
                             "enable_message_ordering = contains(local.ordered_topics, each.value.topic)",
                             "enable_message_ordering = false"),
    "filters left out": (check_subscription_delivery_policy, "pubsub.tf", "filter = each.value.filter", ""),
    "one filter for all": (check_subscription_delivery_policy, "pubsub.tf", "filter = each.value.filter",
                           'filter = "attributes:direction"'),
    "another catalog file": (check_reads_the_catalog, "catalog.tf", "shared/catalog.yaml", "terraform/catalog.yaml"),
    "the services' catalog files left out": (check_reads_the_catalog, "catalog.tf",
                                             '"*/catalog.yaml"', '"edge/catalog.yaml"'),
    "schedules taken from the platform's file only": (check_reads_the_catalog, "catalog.tf",
                                                      '"webhooks", "schedules"]', '"webhooks"]'),
    "defaults ignored": (check_consumers_follow_the_catalog_rules, "catalog.tf",
                         "try(consumer.max_delivery_attempts, local.defaults.max_delivery_attempts)", "5"),
    "fixed source file": (check_functions_built_from_the_catalog, "functions.tf",
                          "GOOGLE_FUNCTION_SOURCE = each.value.source", 'GOOGLE_FUNCTION_SOURCE = "main.py"'),
    "webhooks left out of the functions": (check_functions_built_from_the_catalog, "functions.tf",
                                           "for name, webhook in local.webhooks", "for name, webhook in {}"),
    "fixed ingress": (check_functions_built_from_the_catalog, "functions.tf",
                      "ingress_settings               = each.value.ingress",
                      'ingress_settings               = "ALLOW_ALL"'),
    "Eventarc trigger": (check_functions_built_from_the_catalog, "functions.tf",
                         "  build_config {", '  event_trigger {\n    event_type = "x"\n  }\n  build_config {'),
    "webhook output list": (check_every_webhook_has_a_url_output, "outputs.tf",
                            "for name, function in google_cloudfunctions2_function.function : name => local.webhook_url[name] if contains(keys(local.webhooks), name) }",
                            'ussd = local.webhook_url["edge-ussd"] }'),
    "unauthenticated push": (check_push_is_authenticated_to_the_topic_path, "pubsub.tf",
                             "service_account_email = google_service_account.push_invoker.email",
                             "service_account_email = google_service_account.build.email"),
    "dead letters cannot be published": (check_dead_letter_iam, "pubsub.tf",
                                         'role   = "roles/pubsub.publisher"', 'role   = "roles/pubsub.viewer"'),
    "TTL collections listed by hand": (check_idempotency_records_expire, "firestore.tf",
                                       "distinct(flatten([for part in values(local.infrastructure_parts) : part.ttl_collections]))",
                                       '["processed"]'),
    "indexes listed by hand": (check_reads_the_infrastructure_declarations, "firestore.tf",
                               "merge([for part in values(local.infrastructure_parts) : part.indexes]...)", "{}"),
    "secret grants listed by hand": (check_reads_the_infrastructure_declarations, "secrets.tf",
                                     "for service, reads in local.infrastructure_reads : service => [",
                                     'for service, reads in { edge = { secrets = [] } } : service => ['),
    "settings listed by hand": (check_reads_the_infrastructure_declarations, "functions.tf",
                                "for service, reads in local.infrastructure_reads : service => {",
                                'for service, reads in { notify = { settings = [] } } : service => {'),
    "the services' declaration files left out": (check_reads_the_infrastructure_declarations, "infrastructure.tf",
                                                 '"*/infrastructure.yaml"', '"notify/infrastructure.yaml"'),
    "conflicts not refused": (check_reads_the_infrastructure_declarations, "firestore.tf",
                              "condition     = length(local.infrastructure_problems) == 0", "condition     = true"),
    "secrets given to every function": (check_reads_the_infrastructure_declarations, "functions.tf",
                                        "for_each = toset(lookup(local.secrets_used_by, each.value.service, []))",
                                        "for_each = toset(keys(local.secrets))"),
    "TTL policy left out": (check_idempotency_records_expire, "firestore.tf", "  ttl_config {}\n", ""),
    "TTL on another field": (check_idempotency_records_expire, "firestore.tf",
                             'field      = "expire_at"', 'field      = "at"'),
    "fixed alert threshold": (check_alerts_reach_the_operator, "monitoring.tf",
                              "threshold_value = conditions.value.threshold", "threshold_value = 600"),
    "alerts to nobody": (check_alerts_reach_the_operator, "monitoring.tf",
                         "notification_channels = var.alert_notification_channels", "notification_channels = []"),
    "acknowledged messages dropped": (check_seek_can_deliver_acknowledged_messages_again, "pubsub.tf",
                                      "retain_acked_messages      = true", "retain_acked_messages      = false"),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_checks_fail_on_a_drifted_configuration(tf, mutant):
    check, file, old, new = MUTANTS[mutant]
    with pytest.raises((AssertionError, KeyError)):
        check(tf.mutated(file, old, new))


def test_hard_coded_topic_names_are_caught(tf, catalog):
    mutant = tf.mutated("pubsub.tf", "name     = each.key", 'name     = "sms.send"')
    with pytest.raises(AssertionError):
        check_no_hard_coded_topics(mutant, catalog)


# --- evaluated by terraform itself (no providers, no network), where it is installed ----------

def catalog_files() -> dict[str, str]:
    """Every catalog file's text by its path in the repository (shared/catalog.yaml, functions/*/catalog.yaml)."""
    return {str(path.relative_to(REPO)): path.read_text() for path in catalog_module.files()}


def declaration_files() -> dict[str, str]:
    """Every infrastructure declaration file's text by its path (shared/infrastructure.yaml, functions/*/…)."""
    return {str(path.relative_to(REPO)): path.read_text() for path in infrastructure.files()}


def terraform_console(expressions: list[str], tmp_path: Path, texts: dict[str, str], *,
                      catalog: dict[str, str] | None = None, declarations: dict[str, str] | None = None,
                      variables: dict[str, str] | None = None) -> list[object]:
    """Evaluate expressions against .tf `texts` (by file name) beside the catalog and declaration files; JSON back."""
    (tmp_path / "terraform").mkdir()
    for name, text in {**(catalog or catalog_files()), **(declarations or declaration_files())}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for name, text in texts.items():
        (tmp_path / "terraform" / name).write_text(text)
    command = ["terraform", "console", *(f"-var={name}={value}" for name, value in (variables or {}).items())]
    values = []
    for expression in expressions:
        done = subprocess.run(command, input=f"jsonencode({expression})\n", text=True,
                              capture_output=True, cwd=tmp_path / "terraform", timeout=120,
                              env={"PATH": "/usr/bin:/bin:/usr/local/bin", "TF_CLI_CONFIG_FILE": "/dev/null",
                                   "CHECKPOINT_DISABLE": "1"})
        assert done.returncode == 0, done.stderr
        values.append(json.loads(json.loads(done.stdout)))
    return values


needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")

PROJECT_NUMBER = "123456789012"
# Not the defaults, so that a setting written as a literal instead of read from its variable shows.
FUNCTION_VARIABLES = {"project": "vas-test", "region": "asia-south1", "webhook_min_instances": "3"}


def catalog_only(tf: Terraform) -> dict[str, str]:
    return {"catalog.tf": tf.texts["catalog.tf"]}


def locals_of(text: str) -> str:
    """The locals blocks of a .tf file's text: what `terraform console` evaluates without a provider."""
    return "".join(re.findall(r"^locals \{\n.*?^\}\n", text, re.M | re.S))


def function_locals(tf: Terraform) -> dict[str, str]:
    """catalog.tf, variables.tf, infrastructure.tf and the locals of functions.tf, firestore.tf and secrets.tf:
    local.functions and what each service reads, needing no provider."""
    functions_locals = locals_of(tf.texts["functions.tf"])
    # A data source needs the provider; any project number stands in for it.
    project_number = "data.google_project.this.number"
    assert project_number in functions_locals
    return {"catalog.tf": tf.texts["catalog.tf"], "variables.tf": tf.texts["variables.tf"],
            "infrastructure.tf": tf.texts["infrastructure.tf"], "firestore.tf": locals_of(tf.texts["firestore.tf"]),
            "secrets.tf": locals_of(tf.texts["secrets.tf"]),
            "functions.tf": functions_locals.replace(project_number, f'"{PROJECT_NUMBER}"')}


def unique_names_condition(tf: Terraform) -> str:
    """The function resource's precondition that no catalog name is both a consumer and a webhook."""
    lifecycle = block(tf.resource("google_cloudfunctions2_function", "function"), "lifecycle")
    return block(lifecycle, "precondition")["condition"].removeprefix("${").removesuffix("}")


def check_function_settings_by_kind(tf: Terraform, tmp_path: Path, catalog: catalog_module.Catalog) -> None:
    """local.functions, evaluated: the settings each consumer and each webhook is deployed with."""
    functions, names_unique = terraform_console(["local.functions", unique_names_condition(tf)], tmp_path,
                                                function_locals(tf), variables=FUNCTION_VARIABLES)
    assert names_unique is True
    assert set(functions) == set(catalog.consumers) | set(catalog.webhooks)
    for name, function in functions.items():
        declared = catalog.consumers.get(name) or catalog.webhooks[name]
        assert (function["source"], function["entry_point"]) == (declared.source, declared.entry_point)
        assert function["service"] == Path(declared.source).parts[1]
    for name, consumer in catalog.consumers.items():
        function = functions[name]
        assert function["ingress"] == "ALLOW_INTERNAL_ONLY", f"consumer {name} is reachable from the internet"
        assert function["timeout_seconds"] == consumer.ack_deadline_seconds, \
            f"consumer {name} would run on after Pub/Sub redelivers its message"
        assert function["min_instances"] is None, f"consumer {name} no longer scales to zero"
        assert function["env"] == {}, f"consumer {name} gets a webhook's settings"
    region = FUNCTION_VARIABLES["region"]
    for name in catalog.webhooks:
        function = functions[name]
        assert function["ingress"] == "ALLOW_ALL", f"the carrier cannot reach webhook {name}"
        assert function["timeout_seconds"] <= 60, f"webhook {name} outlives the gateway waiting for it"
        assert function["min_instances"] == int(FUNCTION_VARIABLES["webhook_min_instances"]), \
            f"webhook {name} ignores webhook_min_instances"
        assert function["env"] == {"VAS_WEBHOOK_BASE_URL": f"https://{name}-{PROJECT_NUMBER}.{region}.run.app"}, \
            f"webhook {name} would check signatures against the wrong URL"


CONSOLE_MUTANTS = {
    "internet-facing consumers": ('ingress = "ALLOW_INTERNAL_ONLY"', 'ingress = "ALLOW_ALL"'),
    "consumer timeout apart from the ack deadline": ("timeout_seconds = consumer.ack_deadline_seconds",
                                                     "timeout_seconds = 540"),
    "cold webhooks": ("min_instances   = var.webhook_min_instances", "min_instances   = 0"),
    "webhook without its URL": ("env             = { VAS_WEBHOOK_BASE_URL = local.webhook_url[name] }",
                                "env             = {}"),
    "webhooks waiting minutes": ("timeout_seconds = 30", "timeout_seconds = 540"),
}


@needs_terraform
def test_terraform_sees_the_same_consumers_as_python(tmp_path, catalog):
    consumers, services = terraform_console(["local.consumers", "local.services"], tmp_path, catalog_only(real()))
    expected = {name: c.model_dump(exclude={"name"}) for name, c in catalog.consumers.items()}
    assert consumers == expected
    assert consumers["subscriptions-topup"]["filter"] == 'attributes.direction = "credit"', "Pub/Sub gets the filter"
    assert set(services) == services_of(catalog)


@needs_terraform
def test_terraform_orders_the_topics_python_gives_an_ordering_key(tmp_path, catalog):
    [ordered] = terraform_console(["local.ordered_topics"], tmp_path, catalog_only(real()))
    assert set(ordered) == {name for name in catalog.topics if catalog.topics[name].ordering_key}
    assert {"transfer.requested", "voucher.redeem-requested", "missed-call.recorded", "network.attachment"} <= set(
        ordered)


@needs_terraform
def test_scheduler_tick_is_a_valid_envelope_that_runs_every_time(tmp_path, catalog):
    data = real().resource("google_cloud_scheduler_job", "schedule")["pubsub_target"][0]["data"]
    expression = data.removeprefix("${").removesuffix("}")
    per_schedule = re.sub(r"\beach\.value\b", "s", re.sub(r"\beach\.key\b", "k", expression))
    (bodies,) = terraform_console([f"{{for k, s in local.schedules : k => {per_schedule}}}"], tmp_path,
                                  catalog_only(real()))
    assert set(bodies) == set(catalog.schedules)
    for name, body in bodies.items():
        envelope = Envelope.model_validate_json(base64.b64decode(body))
        schedule = catalog.schedules[name]
        assert envelope.type == schedule.topic
        catalog.topic(schedule.topic).payload_model.model_validate(envelope.data)
        first, second = runtime.per_tick(envelope, "1001"), runtime.per_tick(envelope, "1002")
        assert first.id != second.id, "every tick after the first would be dropped as a duplicate"


@needs_terraform
def test_consumers_are_internal_and_webhooks_public_warm_and_told_their_url(tmp_path, catalog):
    check_function_settings_by_kind(real(), tmp_path, catalog)


@needs_terraform
@pytest.mark.parametrize("mutant", sorted(CONSOLE_MUTANTS))
def test_function_settings_check_fails_on_a_drifted_kind(tmp_path, catalog, mutant):
    old, new = CONSOLE_MUTANTS[mutant]
    with pytest.raises((AssertionError, KeyError)):
        check_function_settings_by_kind(real().mutated("functions.tf", old, new), tmp_path, catalog)


@needs_terraform
def test_a_webhook_named_like_a_consumer_is_refused(tmp_path, catalog):
    consumer, webhook = next(iter(catalog.consumers.values())), next(iter(catalog.webhooks.values()))
    files, edge = catalog_files(), f"functions/{Path(webhook.source).parts[1]}/catalog.yaml"
    raw = yaml.safe_load(files[edge])
    raw["webhooks"][consumer.name] = raw["webhooks"][webhook.name]
    files[edge] = yaml.safe_dump(raw)
    functions, names_unique = terraform_console(["local.functions", unique_names_condition(real())], tmp_path,
                                                function_locals(real()), catalog=files, variables=FUNCTION_VARIABLES)
    assert len(functions) < len(catalog.consumers) + len(catalog.webhooks) + 1, "merge() keeps one of the two"
    assert names_unique is False, "one of the two functions would silently not be deployed"


@needs_terraform
def test_terraform_merges_the_catalog_files_as_python_does(tmp_path):
    (merged, declared_twice) = terraform_console(["local.catalog", "local.catalog_declared_twice"], tmp_path,
                                                 catalog_only(real()))
    assert merged == catalog_module.read()
    assert declared_twice == {}


@needs_terraform
def test_terraform_refuses_a_name_declared_in_two_catalog_files(tmp_path):
    files = catalog_files()
    files["functions/newservice/catalog.yaml"] = "topics:\n  sms.send:\n    model: SmsSend\n    description: again\n"
    (declared_twice,) = terraform_console(["local.catalog_declared_twice"], tmp_path, catalog_only(real()),
                                          catalog=files)
    assert declared_twice == {"topics sms.send": ["functions/newservice/catalog.yaml", "shared/catalog.yaml"]}
    condition = block(block(real().resource("google_pubsub_topic", "topic"), "lifecycle"), "precondition")
    assert condition["condition"] == "${length(local.catalog_declared_twice) == 0}", "nothing refuses them"


def alert_locals(tf: Terraform) -> dict[str, str]:
    """catalog.tf, variables.tf and the locals of monitoring.tf: local.alert_policies, needing no provider."""
    monitoring_locals = re.search(r"^locals \{\n.*?^\}\n", tf.texts["monitoring.tf"], re.M | re.S).group(0)
    return {"catalog.tf": tf.texts["catalog.tf"], "variables.tf": tf.texts["variables.tf"],
            "monitoring.tf": monitoring_locals}


ALERT_AGE_SECONDS = 1234  # not the default, so that a threshold written as a literal shows


def check_every_subscription_and_dead_letter_topic_alerts(tf: Terraform, tmp_path: Path,
                                                           catalog: catalog_module.Catalog) -> None:
    """local.alert_policies, evaluated: a backlog alert per catalog subscription, a dead-letter alert per
    dead-letter topic watching every subscription that dead-letters to it and every one that holds it."""
    (policies,) = terraform_console(["local.alert_policies"], tmp_path, alert_locals(tf),
                                    variables={"backlog_alert_age_seconds": str(ALERT_AGE_SECONDS)})
    for name in catalog.consumers:
        [condition] = policies[f"backlog-{name}"]["conditions"]
        assert "/oldest_unacked_message_age" in condition["filter"]
        assert condition["filter"].endswith(f'resource.labels.subscription_id = "{name}"'), \
            f"{name}'s alert watches another subscription"
        assert condition["threshold"] == ALERT_AGE_SECONDS, f"{name}'s alert ignores backlog_alert_age_seconds"

    def watched(condition: dict) -> set[str]:
        return set(re.findall(r'"([^"]+)"', re.search(r"one_of\((.*)\)", condition["filter"]).group(1)))

    arrivals, not_empty = policies[f"dead-letters-{catalog.dead_letter_topic}"]["conditions"]
    assert "/dead_letter_message_count" in arrivals["filter"] and arrivals["threshold"] == 0
    assert watched(arrivals) == {n for n, c in catalog.consumers.items() if c.dead_letter}, \
        "a subscription dead-letters without an alert"
    assert "/num_undelivered_messages" in not_empty["filter"] and not_empty["threshold"] == 0
    assert watched(not_empty) == {c.name for c in catalog.consumers_of(catalog.dead_letter_topic)}, \
        "dead letters can wait unseen on the dead-letter topic"


@needs_terraform
def test_every_catalog_subscription_and_dead_letter_topic_is_covered_by_an_alert(tmp_path, catalog):
    check_every_subscription_and_dead_letter_topic_alerts(real(), tmp_path, catalog)


ALERT_MUTANTS = {
    "an alert on a fixed subscription": ('subscription_id = \\"${name}\\""', 'subscription_id = \\"notify-sms-send\\""'),
    "a subscription without a backlog alert": (
        "in local.consumers : \"backlog-",
        'in { for k, v in local.consumers : k => v if k != "notify-sms-send" } : "backlog-'),
    "a fixed age threshold": ("threshold    = var.backlog_alert_age_seconds", "threshold    = 600"),
    "dead letters of the dead-letter consumer only": ("if consumer.dead_letter]", "if !consumer.dead_letter]"),
    "dead-letter topic left unwatched": ("if consumer.topic == local.dead_letter_topic]", "if false]"),
}


@needs_terraform
@pytest.mark.parametrize("mutant", sorted(ALERT_MUTANTS))
def test_alert_coverage_check_fails_on_a_gap(tmp_path, catalog, mutant):
    old, new = ALERT_MUTANTS[mutant]
    with pytest.raises((AssertionError, KeyError)):
        check_every_subscription_and_dead_letter_topic_alerts(real().mutated("monitoring.tf", old, new), tmp_path,
                                                              catalog)


# --- the infrastructure each service declares, evaluated by terraform and merged by Python -------------

DECLARED = ["local.firestore_composite_indexes", "local.firestore_ttl_collections", "local.secrets",
            "local.secrets_used_by", "{for service, env in local.service_env : service => keys(env)}",
            "local.infrastructure_problems"]


@needs_terraform
def test_terraform_merges_the_infrastructure_declarations_as_python_does(tmp_path, infra):
    """Same indexes, TTL collections, secrets, per-service secret grants and settings on both sides."""
    indexes, ttl, secrets, used_by, settings_env, problems = terraform_console(
        DECLARED, tmp_path, function_locals(real()), variables=FUNCTION_VARIABLES)
    assert problems == []
    assert indexes == {name: index.model_dump(mode="json") for name, index in infra.indexes.items()}
    assert sorted(ttl) == sorted(infra.ttl_collections)
    assert secrets == {name: secret.model_dump() for name, secret in infra.secrets.items()}
    assert used_by == {service: reads.secrets for service, reads in infra.reads.items() if reads.secrets}
    assert settings_env == {service: sorted(names) for service, names in configured_settings(infra).items()}


CONFLICTING = """
firestore:
  indexes:
    transfers_by_party: {collection: transfers, fields: [[parties, CONTAINS], [at, ASCENDING]]}
    oldest_voicemails: {collection: voicemails, fields: [[deleted, ASCENDING], [delete_after, ASCENDING]]}
  ttl_collections: [processed]
  index: {}
reads:
  secrets: [twilio-auth-token, twilio-api-key]
secret: [voucher-code-key]
"""
# Refused alike by terraform/infrastructure.tf and shared/infrastructure.py.
REFUSED = [
    "functions/newservice/infrastructure.yaml: secret cannot be declared here",
    "functions/newservice/infrastructure.yaml: firestore.index cannot be declared here",
    "firestore index transfers_by_party is declared twice: in functions/newservice/infrastructure.yaml and "
    "functions/transfers/infrastructure.yaml",
    "TTL collection processed is declared twice: in functions/newservice/infrastructure.yaml and "
    "shared/infrastructure.yaml",
    'firestore indexes oldest_voicemails and voicemails_expired are the same index '
    '(voicemails [["deleted","ASCENDING"],["delete_after","ASCENDING"]])',
    "functions/newservice/infrastructure.yaml reads secret twilio-api-key, which shared/infrastructure.yaml does not "
    "define",
]


def test_python_refuses_conflicting_declarations_naming_each():
    raw = {**infrastructure.read(), "functions/newservice/infrastructure.yaml": yaml.safe_load(CONFLICTING)}
    with pytest.raises(ValueError) as refused:
        infrastructure.merge(raw)
    for problem in REFUSED:
        assert problem in str(refused.value)


@needs_terraform
def test_terraform_refuses_conflicting_declarations_naming_each(tmp_path):
    files = {**declaration_files(), "functions/newservice/infrastructure.yaml": CONFLICTING}
    (problems,) = terraform_console(["local.infrastructure_problems"], tmp_path, function_locals(real()),
                                    declarations=files, variables=FUNCTION_VARIABLES)
    assert set(REFUSED) <= set(problems)
    # A service whose folder has no function gets no runtime account to hold the grant.
    assert "functions/newservice/infrastructure.yaml: newservice has no function in the catalog to give it to" in problems


@needs_terraform
def test_terraform_refuses_a_setting_it_does_not_give_and_an_index_without_its_collection_or_order(tmp_path):
    files = {**declaration_files(), "functions/notify/infrastructure.yaml":
             "reads:\n  settings: [email_sender, twilio_api_base]\n"
             "firestore:\n  indexes:\n    by_day: {collection: emails, fields: [[day, UP], [to]]}\n"
             "    by_to: {fields: [[to, ASCENDING], [at, ASCENDING]]}\n"}
    (problems,) = terraform_console(["local.infrastructure_problems"], tmp_path, function_locals(real()),
                                    declarations=files, variables=FUNCTION_VARIABLES)
    assert problems == [
        "firestore index by_to names no collection",
        'firestore index by_day: ["day","UP"] is not [field, ASCENDING | DESCENDING | CONTAINS]',
        'firestore index by_day: ["to"] is not [field, ASCENDING | DESCENDING | CONTAINS]',
        "functions/notify/infrastructure.yaml reads setting twilio_api_base, which terraform/functions.tf "
        "setting_values does not give",
    ]


@needs_terraform
def test_a_new_service_declares_its_needs_in_its_own_folder_only(tmp_path, infra):
    """A service with a file of comments only, or none, needs nothing; one that declares gets exactly that."""
    files = {**declaration_files(), "functions/ledger/infrastructure.yaml": "# nothing yet\n",
             "functions/ops/infrastructure.yaml": "firestore:\n  indexes:\n    dead_letters_by_consumer:\n"
             "      {collection: dead_letters, fields: [[consumer, ASCENDING], [at, DESCENDING]]}\n"
             "reads:\n  secrets: [twilio-auth-token]\n"}
    indexes, _, _, used_by, _, problems = terraform_console(DECLARED, tmp_path, function_locals(real()),
                                                            declarations=files, variables=FUNCTION_VARIABLES)
    assert problems == []
    assert set(indexes) == {*infra.indexes, "dead_letters_by_consumer"}
    assert used_by["ops"] == ["twilio-auth-token"] and "ledger" not in used_by


def test_python_takes_an_empty_declaration_file_as_no_needs_and_keeps_reads_to_the_services(infra):
    raw = {**infrastructure.read(), "functions/ledger/infrastructure.yaml": yaml.safe_load("# nothing yet\n")}
    merged = infrastructure.merge(raw)
    assert merged.reads["ledger"] == infrastructure.Reads() and merged.indexes == infra.indexes
    platform = {**infrastructure.read()}
    platform["shared/infrastructure.yaml"] = {**platform["shared/infrastructure.yaml"], "reads": {"secrets": []}}
    with pytest.raises(ValueError, match="shared/infrastructure.yaml: reads cannot be declared here"):
        infrastructure.merge(platform)
