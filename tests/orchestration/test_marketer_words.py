"""The words a marketer reads in the UI: no SQL, no dbt variable names, no engine codes."""

from __future__ import annotations

import re

from orchestration.assets.dbt import MARKETER_GROUPS
from orchestration.assets.marketer_words import audience_title, mode_label, result_words

# dbt variables as descriptions used to name them ("var rfm_window_days"), plan columns, SQL.
ENGINEER_WORDS = re.compile(r"\bvar[ (]'?\w+|#### Raw SQL|planned_\w+|\{\{|occurrence = |identifier = ")


def test_marketer_facing_descriptions_have_no_engineer_words():
    from orchestration.definitions import defs

    graph = defs.get_repository_def().asset_graph
    found = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.group_name in MARKETER_GROUPS or key.path[0] == "syncs":
            hits = ENGINEER_WORDS.findall(node.description or "")
            if hits:
                found[key.to_user_string()] = sorted(set(hits))
    assert not found, found
    # and the dbt SQL stays where engineers look for it
    staging = [graph.get(k) for k in graph.get_all_asset_keys() if k.path[0] == "staging"]
    assert any("#### Raw SQL" in (n.description or "") for n in staging)


def test_codes_become_words():
    assert audience_title("aud_nps_detractors") == "NPS detractors"
    assert audience_title("aud_loyal_sms_vip") == "Loyal SMS VIP"
    assert audience_title("aud_win_back") == "Win back"
    assert audience_title("aud_trial_feature_x") == "Trial feature X"
    assert mode_label("mirror") == "keep identical" and mode_label("custom") == "custom"
    assert result_words("needs_confirmation") == "stopped: waiting for confirmation"
    assert result_words(None) == "not synced yet" and result_words("odd_state") == "odd state"
