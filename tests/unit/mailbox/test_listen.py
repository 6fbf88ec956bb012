"""What wakes the watcher: a message arriving (EXISTS/RECENT), not flag changes or expunges
(which the sync's own server actions cause), whatever else the server says while idling."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.mailbox.listen import has_news

OTHER = st.one_of(
    st.tuples(st.integers(1, 10**6), st.just(b"EXPUNGE")),
    st.tuples(st.integers(1, 10**6), st.just(b"FETCH"), st.just((b"FLAGS", (b"\\Seen",)))),
    st.tuples(st.just(b"OK"), st.binary(max_size=30)),
    st.binary(max_size=20),
)
NEWS = st.tuples(st.integers(0, 10**6), st.sampled_from([b"EXISTS", b"RECENT"]))


@given(st.lists(OTHER, max_size=8))
def test_no_news_without_a_new_message(responses) -> None:
    assert not has_news(responses)


@given(st.lists(OTHER, max_size=8), NEWS, st.lists(OTHER, max_size=8))
def test_a_new_message_anywhere_in_the_responses_is_news(before, news, after) -> None:
    assert has_news([*before, news, *after])


def test_the_servers_own_words() -> None:
    assert has_news([(b"OK", b"Still here"), (3, b"EXISTS")])
    assert not has_news([(b"OK", b"Still here")])
    assert not has_news([(2, b"FETCH", (b"FLAGS", (b"$Fattura",)))])
