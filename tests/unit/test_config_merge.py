from common.config.bundle import dump_bundle, parse_bundle
from common.config.effective import merge
from common.errors import ValidationFailed

BUNDLE = """
tenant: {id: acme, name: Acme}
apps: [{id: shop, name: Shop, slug: shop}]
providers: [{id: oa, kind: openai, name: openai}]
models: [{id: m1, provider_id: oa, name: gpt-4o}]
credentials: [{id: c1, provider_id: oa}]
assistants:
  - {id: support, app_id: shop, name: Support, slug: support, model_id: m1, system_prompt: from bundle}
  - {id: sales, app_id: shop, name: Sales, slug: sales, model_id: m1}
"""


def test_firestore_record_with_same_id_wins_and_tombstones_hide():
    bundle = parse_bundle(BUNDLE)
    overlay = {
        "assistants": [
            {
                "id": "support",
                "app_id": "shop",
                "name": "Support",
                "slug": "support",
                "model_id": "m1",
                "system_prompt": "from firestore",
            },
            {"id": "sales", "_deleted": True},
        ]
    }
    cfg = merge("acme", bundle, None, overlay)
    assert cfg.assistants["support"].system_prompt == "from firestore"
    assert "sales" not in cfg.assistants
    assert cfg.assistant("shop", "support") is not None and cfg.active


def test_invalid_firestore_record_is_skipped_not_fatal():
    cfg = merge("acme", parse_bundle(BUNDLE), None, {"models": [{"id": "m2", "provider_id": "oa"}]})
    assert "m2" not in cfg.models and "m1" in cfg.models


def test_bundle_errors_name_the_field():
    bad = BUNDLE.replace("kind: openai", "kind: openia")
    try:
        parse_bundle(bad)
    except ValidationFailed as exc:
        assert exc.field == "providers.0.kind"
    else:
        raise AssertionError("expected a validation error")


def test_bundle_round_trips_through_yaml():
    bundle = parse_bundle(BUNDLE)
    assert parse_bundle(dump_bundle(bundle)) == bundle


def test_tenant_doc_can_disable_a_bundle_tenant():
    cfg = merge("acme", parse_bundle(BUNDLE), {"id": "acme", "is_active": False}, {})
    assert not cfg.active
