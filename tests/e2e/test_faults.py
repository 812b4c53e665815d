"""The fault-injecting proxy against the fake GitHub: what the client sees, what GitHub did."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from github import Auth, Github, GithubException

from .faults import Fault, FaultProxy

COMMENTS = "/repos/o/r/issues/1/comments"


@dataclass
class Setup:
    fake: object
    proxy: FaultProxy
    api: str  # the API base URL through the proxy
    session: requests.Session

    def post_comment(self, body: str) -> requests.Response:
        return self.session.post(self.api + COMMENTS, json={"body": body})

    def upstream_comments(self) -> list[str]:
        return [c.body for c in self.fake.comments_on("o/r", 1)]


def github_client(setup: Setup, **options: int) -> Github:
    """PyGithub through the proxy, without its retries and its pauses between requests."""
    token = Auth.Token(setup.fake.user_token("o"))
    return Github(
        base_url=setup.api,
        auth=token,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **options,
    )


@pytest.fixture
def setup(fake_github) -> Iterator[Setup]:
    fake_github.create_repo("o/r")
    fake_github.create_issue("o/r", title="An issue", user="o")
    session = requests.Session()
    session.headers["Authorization"] = "token " + fake_github.user_token("o")
    with FaultProxy(fake_github.web_url, seed=1) as proxy:
        yield Setup(fake_github, proxy, proxy.url + "/api/v3", session)
    session.close()


def test_a_fault_before_forwarding_leaves_github_untouched(setup):
    setup.proxy.add(Fault("POST", COMMENTS + "$", "before", 502))
    gh = github_client(setup)
    with pytest.raises(GithubException) as caught:
        gh.requester.requestJsonAndCheck("POST", COMMENTS, input={"body": "hello"})
    assert caught.value.status == 502
    assert caught.value.data["message"] == "Bad Gateway"
    assert setup.upstream_comments() == []
    assert setup.proxy.forwarded == 0
    assert setup.proxy.injected == [("POST", "/api/v3" + COMMENTS, "before", 502)]


def test_a_fault_after_forwarding_hides_a_write_github_did(setup):
    setup.proxy.add(Fault("POST", COMMENTS + "$", "after", 502))
    body = 'naïve ✓ "quoted"\n'  # forwarded byte-for-byte
    answer = setup.post_comment(body)
    assert answer.status_code == 502
    assert setup.upstream_comments() == [body]
    assert setup.proxy.counts() == {
        "forwarded": 1,
        "injected": 1,
        "after": 1,
        "502": 1,
    }
    assert setup.post_comment("again").status_code == 201  # the rule is spent
    assert setup.upstream_comments() == [body, "again"]


def test_rate_limits_carry_retry_after_and_github_messages(setup):
    setup.proxy.add(Fault("POST", COMMENTS, "before", 429, retry_after=1))
    setup.proxy.add(Fault("GET", "/repos/o/r$", "before", 403, retry_after=30))
    answer = setup.post_comment("hello")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["message"].startswith("You have exceeded a secondary rate limit")
    answer = setup.session.get(setup.api + "/repos/o/r")
    assert answer.status_code == 403
    assert answer.headers["Retry-After"] == "30"
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert answer.json()["message"].startswith("API rate limit exceeded")
    assert setup.upstream_comments() == []


def test_a_rule_with_times_fails_that_many_requests_then_passes(setup):
    fault = setup.proxy.add(Fault("GET", "/repos/o/r$", "before", 503, times=2))
    statuses = [setup.session.get(setup.api + "/repos/o/r").status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert (fault.hits, fault.spent) == (2, True)


def test_chaos_with_a_seed_repeats_the_same_faults(fake_github):
    fake_github.create_repo("o/r")
    fake_github.create_issue("o/r", title="An issue", user="o")
    token = fake_github.user_token("o")

    def run() -> list:
        with FaultProxy(fake_github.web_url, seed=7) as proxy, requests.Session() as session:
            proxy.chaos(rate=0.3)
            session.headers["Authorization"] = "token " + token
            for i in range(30):
                if i % 3:
                    session.get(f"{proxy.url}/api/v3/repos/o/r")
                else:
                    session.post(f"{proxy.url}/api/v3{COMMENTS}", json={"body": str(i)})
            return proxy.injected

    first = run()
    assert first == run()
    assert {f.when for f in first} == {"before", "after"}
    assert 3 <= len(first) <= 20


def test_chaos_spares_git_and_installation_tokens_unless_named(fake_github):
    fake_github.create_repo("o/r")
    with FaultProxy(fake_github.web_url, seed=1) as proxy:
        proxy.chaos(rate=1.0)
        git = requests.get(f"{proxy.url}/o/r.git/info/refs?service=git-upload-pack")
        assert git.status_code == 401  # the fake's answer: no credentials
        tokens = f"{proxy.url}/api/v3/app/installations/1/access_tokens"
        assert requests.post(tokens).status_code == 401
        assert proxy.injected == []
        proxy.clear()
        proxy.add(Fault("POST", r"/access_tokens$", "before", 500))
        assert requests.post(tokens).status_code == 500


def test_pagination_links_lead_back_through_the_proxy(setup):
    for i in range(3):
        setup.fake.comment("o/r", 1, f"comment {i}", user="o")
    answer = setup.session.get(setup.api + COMMENTS, params={"per_page": 1})
    assert answer.links["next"]["url"].startswith(setup.proxy.url + "/api/v3/")
    assert answer.json()[0]["url"].startswith(setup.proxy.url + "/api/v3/")
    before = setup.proxy.forwarded
    gh = github_client(setup, per_page=1)
    issue = gh.get_repo("o/r").get_issue(1)
    assert [c.body for c in issue.get_comments()] == [f"comment {i}" for i in range(3)]
    assert setup.proxy.forwarded - before == 5  # repo, issue, three pages


def test_connections_are_kept_alive_and_served_concurrently(setup):
    conn = http.client.HTTPConnection("127.0.0.1", int(setup.proxy.url.rsplit(":", 1)[1]))
    headers = {"Authorization": setup.session.headers["Authorization"]}
    for _ in range(2):
        conn.request("GET", "/api/v3/repos/o/r", headers=headers)
        resp = conn.getresponse()
        assert (resp.status, resp.version, resp.will_close) == (200, 11, False)
        assert json.loads(resp.read())["full_name"] == "o/r"
    conn.putrequest("DELETE", "/api/v3/repos/o/r/issues/comments/999")  # no Content-Length
    conn.putheader("Authorization", headers["Authorization"])
    conn.endheaders()
    assert conn.getresponse().status == 404
    conn.close()
    with ThreadPoolExecutor(16) as pool:
        get = lambda _: requests.get(setup.api + "/rate_limit").status_code  # noqa: E731
        statuses = list(pool.map(get, range(32)))
    assert statuses == [200] * 32
