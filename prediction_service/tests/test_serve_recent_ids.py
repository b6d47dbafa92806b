"""RecentIds: the owners of recent request ids, single and batch, within a bound in rows."""

from __future__ import annotations

from prediction_service.service import RecentIds


def test_single_ids_and_the_rows_of_a_batch_are_found():
    recent = RecentIds()
    recent.add("a1", "house-price")
    recent.add_batch("b7", 3, "churn")
    assert recent.get("a1") == "house-price"
    assert [recent.get(f"b7-{i}") for i in range(3)] == ["churn"] * 3
    assert "b7-2" in recent and "a1" in recent


def test_ids_that_no_prediction_had_are_not_found():
    recent = RecentIds()
    recent.add("a1", "m")
    recent.add_batch("b7", 3, "m")
    # past the batch's rows, a row number spelt otherwise (a leading zero, a sign, non-ASCII
    # digits), the batch's own id, a single id as a batch, an unknown batch
    spelt_otherwise = ("b7-01", "b7--1", "b7-", "b7-\u00b2", "b7-\u0662")
    for rid in ("b7-3", *spelt_otherwise, "b7", "a1-0", "zz-0", ""):
        assert recent.get(rid) is None, rid
        assert rid not in recent


def test_an_id_with_dashes_of_its_own_is_kept_whole():
    recent = RecentIds()
    uid = "0193b5e2-7c1a-7000-8000-00000000abcd"
    recent.add(uid, "single")
    recent.add_batch(uid.replace("abcd", "ef01"), 2, "batch")
    assert recent.get(uid) == "single"
    assert recent.get(uid.replace("abcd", "ef01") + "-1") == "batch"
    assert recent.get(uid[:-5]) is None


def test_the_bound_counts_rows_and_forgets_the_oldest_first():
    recent = RecentIds(size=10)
    recent.add_batch("old", 6, "m")
    recent.add("one", "m")
    recent.add_batch("new", 6, "m")  # 13 rows: the oldest entry goes
    assert recent.get("old-0") is None
    assert recent.get("one") == "m" and recent.get("new-5") == "m"
    for i in range(4):
        recent.add(f"s{i}", "m")  # 11 rows: "one" goes next
    assert recent.get("one") is None and recent.get("new-0") == "m"


def test_a_batch_larger_than_the_bound_is_still_kept():
    recent = RecentIds(size=5)
    recent.add("x", "m")
    recent.add_batch("big", 50, "m")
    assert recent.get("big-49") == "m" and recent.get("x") is None


def test_an_id_seen_again_takes_its_latest_owner():
    recent = RecentIds(size=10)
    recent.add_batch("b", 4, "first")
    recent.add_batch("b", 2, "second")
    assert recent.get("b-1") == "second" and recent.get("b-3") is None
    for i in range(8):
        recent.add(f"s{i}", "m")  # 2 + 8 rows: the re-added batch is counted once
    assert recent.get("b-0") == "second"
