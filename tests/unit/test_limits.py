from common.chat.limits import take


def test_bucket_allows_the_burst_then_asks_to_wait():
    assert all(take("k-burst", 3, now=100.0) == 0 for _ in range(3))
    wait = take("k-burst", 3, now=100.0)
    assert 19 < wait <= 20  # one token every 20 s at 3/min


def test_bucket_refills_over_time():
    for _ in range(2):
        take("k-refill", 2, now=0.0)
    assert take("k-refill", 2, now=0.0) > 0
    assert take("k-refill", 2, now=31.0) == 0


def test_keys_have_separate_buckets():
    take("k-a", 1, now=0.0)
    assert take("k-a", 1, now=0.0) > 0
    assert take("k-b", 1, now=0.0) == 0
