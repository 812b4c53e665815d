"""Dashboard sign-in against the fake forges over real HTTP: a browser (a ``requests`` session)
goes from the bot to the fake's consent page and back, and a probe view guarded by
``signed_in`` (registered only in this test's app) says who the bot thinks is looking.

The stories: who sees which repositories (the App's installations the person can reach; a
stranger nothing; an admin everything), the cookie's flags, and every way a sign-in or a
session must fail: a foreign state, a replayed code, a tampered, planted or expired cookie, a
post without the CSRF token or from another site, a ``next`` leading elsewhere, a forge that
answers 500.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from e2e.faults import Fault, FaultProxy
from fakes.github import FakeGitHub
from fakes.github.handlers.oauth import set_callback_urls
from fakes.github.server import ServerThread
from fakes.gitlab import FakeGitLab
from fakes.gitlab.handlers.oauth import register_application
from sqlalchemy import select

from bot.config import ConfigError, Settings
from bot.services import Services
from bot.store.tables import WebSession
from bot.web.app import build_app
from bot.web.signin import COOKIE, SECURE_COOKIE, current_viewer, safe_next, signed_in

PROBE = "/dashboard/probe"


class Clock:
    """The bot's clock, moved by the test (sessions expire by it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Bot:
    """The bot's web app on 127.0.0.1, plus a probe view only this test registers."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.services = Services(settings, clock=clock)
        self.services.migrate()
        app = build_app(self.services)

        @app.route(PROBE, methods=["GET", "POST"])
        @signed_in
        def probe() -> Any:
            viewer = current_viewer()
            assert viewer is not None
            return {
                "forge": viewer.forge,
                "login": viewer.login,
                "name": viewer.name,
                "admin": viewer.admin,
                "repositories": sorted(viewer.repositories),
                "visible": None if viewer.visible is None else sorted(viewer.visible),
                "sees_web": viewer.can_see("ACME/web"),
                "csrf": viewer.csrf,
            }

        self.app = app
        self.server = ServerThread(app)  # werkzeug, threaded: it shuts down cleanly
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.server.start()

    def sessions(self) -> list[WebSession]:
        with self.services.store.session() as s:
            return list(s.scalars(select(WebSession)))

    def stop(self) -> None:
        self.server.stop()
        self.services.store.dispose()


@dataclass
class SignIn:
    """One browser's trip: the bot's redirect, the forge's answer, the bot's callback."""

    start: requests.Response
    back: requests.Response
    callback: requests.Response

    @property
    def state(self) -> str:
        return _query(self.start.headers["Location"])["state"]

    @property
    def code(self) -> str:
        return _query(self.back.headers["Location"])["code"]

    @property
    def pending_cookie(self) -> str:
        return self.start.cookies[COOKIE]


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def sign_in(
    browser: requests.Session,
    bot: Bot,
    login: str,
    *,
    forge: str = "github",
    next_path: str | None = PROBE,
    decision: str = "authorize",
    state: str | None = None,
) -> SignIn:
    """Start at the bot, consent on the forge's page as ``login``, come back to the bot (the
    callback's own answer is returned unfollowed). ``state`` replaces the one the forge sends
    back, as a forged callback would."""
    params = {"next": next_path} if next_path is not None else {}
    start = browser.get(
        f"{bot.url}/dashboard/sign-in/{forge}", params=params, allow_redirects=False
    )
    assert start.status_code == 302, start.text
    authorize = start.headers["Location"]
    consent = browser.get(authorize)
    assert consent.status_code == 200 and "Authorize" in consent.text
    field = "login" if forge == "github" else "username"
    back = browser.post(authorize, data={field: login, "decision": decision}, allow_redirects=False)
    assert back.status_code == 302, back.text
    location = back.headers["Location"]
    if state is not None:
        query = _query(location) | {"state": state}
        location = location.split("?", 1)[0] + "?" + urlencode(query)
    callback = browser.get(location, allow_redirects=False)
    return SignIn(start, back, callback)


def probe(browser: requests.Session, bot: Bot) -> requests.Response:
    return browser.get(bot.url + PROBE, allow_redirects=False)


# -- a GitHub world -----------------------------------------------------------------------------
@dataclass
class GitHubWorld:
    fake: FakeGitHub
    bot: Bot
    clock: Clock
    app: Any

    def browser(self) -> requests.Session:
        return requests.Session()


def github_settings(tmp_path: Path, fake_url: str, app: Any, **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "bot",
        github_api_url=f"{fake_url}/api/v3",
        github_client_id=app.client_id,
        github_client_secret=app.client_secret,
        dashboard_admins=("github:olga", "gitlab:alice"),
        **extra,
    )


@pytest.fixture
def github_world(fake_github: FakeGitHub, tmp_path: Path) -> Iterator[GitHubWorld]:
    """acme (web, api installed; vault not) and carol's tools (installed), an App that is
    installed on both, another App beside it; alice reaches web (collaborator), api (team),
    vault and carol/tools; bob only web; mallory nothing; olga is a dashboard admin."""
    fake = fake_github
    fake.webhook_mode = "manual"  # this story needs no webhooks
    fake.add_user("alice", name="Alice Liddell")
    fake.add_org("acme", members=["alice", "bob", "mallory"])
    fake.add_user("carol")
    fake.add_user("olga", name="Olga Admin")
    for name in ("acme/web", "acme/api", "acme/vault", "carol/tools"):
        fake.create_repo(name)
    fake.add_collaborator("acme/web", "alice", "write")
    fake.add_collaborator("acme/web", "bob", "read")
    fake.add_team("acme", "ops", members=["alice"], repos={"acme/api": "read"})
    fake.add_collaborator("acme/vault", "alice", "admin")
    fake.add_collaborator("carol/tools", "alice", "write")
    app = fake.install_app(account="acme", repositories=["web", "api"])
    fake.install(app, "carol")
    fake.install_app(account="acme", name="other-bot")
    clock = Clock()
    bot = Bot(github_settings(tmp_path, fake.web_url, app), clock)
    set_callback_urls(fake, app, f"{bot.url}/dashboard/oauth/github/callback")
    try:
        yield GitHubWorld(fake, bot, clock, app)
    finally:
        bot.stop()


# -- who sees what ------------------------------------------------------------------------------
def test_github_sign_in_sets_a_safe_cookie_and_reads_the_installations_repositories(
    github_world: GitHubWorld,
) -> None:
    world = github_world
    browser = world.browser()
    trip = sign_in(browser, world.bot, "alice")
    authorize = urlsplit(trip.start.headers["Location"])
    sent = _query(trip.start.headers["Location"])
    assert authorize.path == "/login/oauth/authorize"
    assert sent["client_id"] == world.app.client_id and sent["code_challenge_method"] == "S256"
    assert sent["redirect_uri"] == f"{world.bot.url}/dashboard/oauth/github/callback"
    assert len(sent["code_challenge"]) == 43 and len(sent["state"]) >= 32

    assert trip.callback.status_code == 302 and trip.callback.headers["Location"] == PROBE
    cookie = trip.callback.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= flags and "secure" not in flags
    assert "SameSite=Lax" in cookie and "Path=/" in cookie and "Max-Age=28800" in cookie

    seen = probe(browser, world.bot)
    assert seen.status_code == 200
    assert seen.json() | {"csrf": "-"} == {
        "forge": "github",
        "login": "alice",
        "name": "Alice Liddell",
        "admin": False,
        # the App's installations alice can reach; not vault (not installed), not other-bot's
        "repositories": ["acme/api", "acme/web", "carol/tools"],
        "visible": ["acme/api", "acme/web", "carol/tools"],
        "sees_web": True,  # owner/name without case, as GitHub treats it
        "csrf": "-",
    }
    assert seen.headers["Cache-Control"] == "no-store"
    assert seen.headers["X-Content-Type-Options"] == "nosniff"
    assert seen.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in seen.headers["Content-Security-Policy"]
    (row,) = world.bot.sessions()
    token = browser.cookies[COOKIE]
    assert row.id == hashlib.sha256(token.encode()).hexdigest() and row.login == "alice"
    assert world.fake.calls[("POST", "/login/oauth/access_token")] == 1


@pytest.mark.parametrize(
    ("login", "repositories", "visible", "admin"),
    [
        ("bob", ["acme/web"], ["acme/web"], False),
        ("mallory", [], [], False),  # an org member without access signs in and sees nothing
        ("olga", [], None, True),  # an admin: everything, and no repositories read
    ],
)
def test_each_person_sees_what_the_forge_lets_them(
    github_world: GitHubWorld,
    login: str,
    repositories: list[str],
    visible: list[str] | None,
    admin: bool,
) -> None:
    world = github_world
    browser = world.browser()
    assert sign_in(browser, world.bot, login).callback.status_code == 302
    seen = probe(browser, world.bot).json()
    assert (seen["login"], seen["admin"]) == (login, admin)
    assert (seen["repositories"], seen["visible"]) == (repositories, visible)
    assert seen["sees_web"] == (login in ("bob", "olga"))
    reads = world.fake.calls[("GET", "/user/installations")]
    assert reads == (0 if admin else 1)


def test_an_admin_taken_off_the_list_is_no_admin_at_once(github_world: GitHubWorld) -> None:
    world = github_world
    browser = world.browser()
    sign_in(browser, world.bot, "olga")
    world.bot.services.settings = replace(world.bot.services.settings, dashboard_admins=())
    seen = probe(browser, world.bot).json()
    assert (seen["admin"], seen["visible"]) == (False, [])


# -- sign-ins that must fail --------------------------------------------------------------------
def test_a_callback_with_another_state_is_refused_and_spends_the_sign_in(
    github_world: GitHubWorld,
) -> None:
    world = github_world
    browser = world.browser()
    trip = sign_in(browser, world.bot, "alice", state="forged-" + "x" * 40)
    assert trip.callback.status_code == 400
    assert "state differs" in trip.callback.text and "Start again" in trip.callback.text
    assert "<script" not in trip.callback.text
    assert world.fake.calls[("POST", "/login/oauth/access_token")] == 0
    # the genuine answer cannot be used afterwards either: the sign-in was used up
    again = browser.get(trip.back.headers["Location"], allow_redirects=False)
    assert again.status_code == 400 and "expired or was started in another browser" in again.text
    assert probe(browser, world.bot).status_code == 302


def test_a_replayed_code_is_refused(github_world: GitHubWorld) -> None:
    world = github_world
    browser = world.browser()
    first = sign_in(browser, world.bot, "alice")
    assert first.callback.status_code == 302
    # the same callback again: this browser's sign-in is over
    replay = browser.get(first.back.headers["Location"], allow_redirects=False)
    assert replay.status_code == 400 and "Start again" in replay.text
    # the old code with a fresh sign-in's state: GitHub refuses the used code
    start = browser.get(f"{world.bot.url}/dashboard/sign-in/github", allow_redirects=False)
    state = _query(start.headers["Location"])["state"]
    query = urlencode({"code": first.code, "state": state})
    forged = browser.get(
        f"{world.bot.url}/dashboard/oauth/github/callback?{query}", allow_redirects=False
    )
    assert forged.status_code == 400
    assert "bad_verification_code" in forged.text and "Start again" in forged.text
    assert probe(browser, world.bot).status_code == 302  # starting over ended the session


def test_declining_on_the_forge_signs_nobody_in(github_world: GitHubWorld) -> None:
    trip = sign_in(github_world.browser(), github_world.bot, "alice", decision="cancel")
    assert trip.callback.status_code == 403
    assert "did not authorize the dashboard on GitHub" in trip.callback.text
    assert [s.login for s in github_world.bot.sessions()] == []


def test_a_forge_failing_is_a_clear_page_not_a_500(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake = fake_github
    fake.webhook_mode = "manual"
    fake.add_org("acme", members=["alice"])
    fake.create_repo("acme/web")
    app = fake.install_app(account="acme")
    with FaultProxy(fake.web_url) as proxy:
        bot = Bot(github_settings(tmp_path, proxy.url, app), Clock())
        try:
            set_callback_urls(fake, app, f"{bot.url}/dashboard/oauth/github/callback")
            proxy.add(Fault("POST", r"^/login/oauth/access_token$", "before", 500))
            trip = sign_in(requests.Session(), bot, "alice")
        finally:
            bot.stop()
    assert trip.callback.status_code == 502
    assert "GitHub answered 500 when exchanging the sign-in code" in trip.callback.text
    assert "Sign in again" in trip.callback.text and "Traceback" not in trip.callback.text


# -- sessions that must not be taken over -------------------------------------------------------
def test_a_tampered_cookie_is_sent_to_sign_in(github_world: GitHubWorld) -> None:
    world = github_world
    browser = world.browser()
    sign_in(browser, world.bot, "alice")
    token = browser.cookies[COOKIE]
    browser.cookies.clear()
    browser.cookies.set(COOKIE, token[:-1] + ("A" if token[-1] != "A" else "B"))
    seen = probe(browser, world.bot)
    assert seen.status_code == 302
    assert seen.headers["Location"] == "/dashboard/sign-in?next=%2Fdashboard%2Fprobe"
    refused = browser.post(world.bot.url + PROBE, allow_redirects=False)
    assert refused.status_code == 401


def test_a_cookie_from_before_sign_in_is_worth_nothing_after_it(
    github_world: GitHubWorld,
) -> None:
    """Session fixation: whoever planted or saw the pre-sign-in cookie gains nothing."""
    world = github_world
    browser = world.browser()
    trip = sign_in(browser, world.bot, "alice")
    planted = trip.pending_cookie
    assert browser.cookies[COOKIE] != planted
    attacker = requests.Session()
    attacker.cookies.set(COOKIE, planted)
    assert probe(attacker, world.bot).status_code == 302
    digests = {row.id for row in world.bot.sessions()}
    assert hashlib.sha256(planted.encode()).hexdigest() not in digests


def test_a_session_ends_after_its_hours(github_world: GitHubWorld) -> None:
    world = github_world
    browser, other = world.browser(), world.browser()
    sign_in(browser, world.bot, "alice")
    sign_in(other, world.bot, "bob")
    world.clock.now += timedelta(hours=7, minutes=59)
    assert probe(browser, world.bot).status_code == 200
    world.clock.now += timedelta(minutes=2)
    assert probe(browser, world.bot).status_code == 302
    assert [s.login for s in world.bot.sessions()] == ["bob"]  # alice's, met, is gone
    world.browser().get(f"{world.bot.url}/dashboard/sign-in/github", allow_redirects=False)
    assert [s.login for s in world.bot.sessions()] == [None]  # bob's pruned; a new sign-in


def test_sign_out_needs_the_csrf_token_and_ends_the_session(github_world: GitHubWorld) -> None:
    world = github_world
    browser = world.browser()
    sign_in(browser, world.bot, "alice")
    csrf = probe(browser, world.bot).json()["csrf"]
    out = f"{world.bot.url}/dashboard/sign-out"
    refused = browser.post(out, allow_redirects=False)
    assert refused.status_code == 403 and "did not come from the dashboard" in refused.text
    wrong = browser.post(out, data={"csrf": csrf[:-1]}, allow_redirects=False)
    assert wrong.status_code == 403
    assert [s.login for s in world.bot.sessions()] == ["alice"]
    done = browser.post(out, data={"csrf": csrf}, allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"].endswith("signed_out=1")
    assert world.bot.sessions() == []
    assert COOKIE not in browser.cookies
    assert probe(browser, world.bot).status_code == 302


def test_a_post_from_another_site_is_refused_even_with_the_token(
    github_world: GitHubWorld,
) -> None:
    world = github_world
    browser = world.browser()
    sign_in(browser, world.bot, "alice")
    csrf = probe(browser, world.bot).json()["csrf"]
    evil = browser.post(
        world.bot.url + PROBE,
        data={"csrf": csrf},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert evil.status_code == 403 and "came from another site" in evil.text
    ours = browser.post(
        world.bot.url + PROBE, headers={"Origin": world.bot.url, "X-CSRF-Token": csrf}
    )
    assert ours.status_code == 200


def test_next_never_leads_off_the_dashboard(github_world: GitHubWorld) -> None:
    trip = sign_in(
        github_world.browser(), github_world.bot, "alice", next_path="https://evil.example"
    )
    assert trip.callback.status_code == 302
    assert trip.callback.headers["Location"] == "/dashboard/"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/dashboard/exceptions?page=2", "/dashboard/exceptions?page=2"),
        ("/dashboard", "/dashboard"),
        (None, "/dashboard/"),
        ("https://evil.example/dashboard/", "/dashboard/"),
        ("//evil.example/dashboard/", "/dashboard/"),
        ("/\\evil.example", "/dashboard/"),
        ("/dashboard/../setup/callback", "/dashboard/"),
        ("/dashboardx", "/dashboard/"),
        ("/setup/callback", "/dashboard/"),
        ("javascript:alert(1)", "/dashboard/"),
        ("/dashboard/\r\nSet-Cookie:x=y", "/dashboard/"),
    ],
)
def test_safe_next_keeps_only_dashboard_paths(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept


# -- the pages themselves -----------------------------------------------------------------------
def test_sign_in_page_offers_each_configured_forge_and_says_who_is_signed_in(
    github_world: GitHubWorld,
) -> None:
    world = github_world
    browser = world.browser()
    page = browser.get(f"{world.bot.url}/dashboard/sign-in", params={"next": "/dashboard/x"})
    assert page.status_code == 200 and "Sign in with GitHub" in page.text
    assert 'href="/dashboard/sign-in/github?next=/dashboard/x"' in page.text
    assert "Sign in with GitLab" not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    sign_in(browser, world.bot, "alice")
    page = browser.get(f"{world.bot.url}/dashboard/sign-in")
    assert "signed in as <strong>alice</strong>" in page.text and 'name="csrf"' in page.text


def test_without_any_sign_in_configured_the_page_says_which_variables_enable_it(
    tmp_path: Path,
) -> None:
    services = Services(Settings(data_dir=tmp_path, public_url="https://bot.example.com"))
    services.migrate()
    client = build_app(services).test_client()
    page = client.get("/dashboard/sign-in")
    text = page.get_data(as_text=True)
    assert page.status_code == 404
    for variable in ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "GITLAB_OAUTH_CLIENT_ID"):
        assert variable in text
    assert "https://bot.example.com/dashboard/oauth/github/callback" in text
    assert client.get("/dashboard/sign-in/github").status_code == 404


def test_on_https_the_cookie_is_secure_and_host_only(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake = fake_github
    fake.webhook_mode = "manual"
    fake.add_org("acme", members=["alice"])
    fake.create_repo("acme/web")
    fake.add_collaborator("acme/web", "alice", "read")
    app = fake.install_app(account="acme")
    public = "https://bot.example.test"
    set_callback_urls(fake, app, f"{public}/dashboard/oauth/github/callback")
    settings = github_settings(tmp_path, fake.web_url, app, public_url=public)
    services = Services(settings)
    services.migrate()
    client = build_app(services).test_client()
    start = client.get("/dashboard/sign-in/github", base_url=public)
    assert start.status_code == 302
    assert start.headers["Set-Cookie"].startswith(f"{SECURE_COOKIE}=")
    assert "Secure" in start.headers["Set-Cookie"]
    sent = _query(start.headers["Location"])
    assert sent["redirect_uri"] == f"{public}/dashboard/oauth/github/callback"
    back = requests.post(
        start.headers["Location"],
        data={"login": "alice", "decision": "authorize"},
        allow_redirects=False,
    )
    location = urlsplit(back.headers["Location"])
    callback = client.get(f"{location.path}?{location.query}", base_url=public)
    assert callback.status_code == 302
    cookie = callback.headers["Set-Cookie"]
    assert cookie.startswith(f"{SECURE_COOKIE}=") and "Secure" in cookie and "Domain" not in cookie
    with services.store.session() as s:
        assert [r.login for r in s.scalars(select(WebSession))] == ["alice"]
    services.store.dispose()


# -- GitLab -------------------------------------------------------------------------------------
@pytest.fixture
def gitlab_bot(fake_gitlab: FakeGitLab, tmp_path: Path) -> Iterator[Bot]:
    fake = fake_gitlab
    fake.add_group("acme", members={"alice": 30})
    fake.create_project("acme/shop")
    fake.create_project("acme/api")
    fake.create_project("other/secret")
    fake.add_user("mallory")
    fake.add_user("root")
    bot: Bot | None = None
    application = register_application(fake, "http://placeholder.invalid/")
    settings = Settings(
        data_dir=tmp_path / "bot",
        gitlab_url=fake.web_url,
        gitlab_token="unused",
        gitlab_webhook_secret="unused",
        gitlab_oauth_client_id=application.uid,
        gitlab_oauth_client_secret=application.secret,
        dashboard_admins=("gitlab:root", "github:alice"),
    )
    bot = Bot(settings, Clock())
    application.redirect_uris = [f"{bot.url}/dashboard/oauth/gitlab/callback"]
    try:
        yield bot
    finally:
        bot.stop()


@pytest.mark.parametrize(
    ("login", "visible"),
    [("alice", ["acme/api", "acme/shop"]), ("mallory", []), ("root", None)],
)
def test_gitlab_sign_in_reads_the_persons_projects(
    gitlab_bot: Bot, fake_gitlab: FakeGitLab, login: str, visible: list[str] | None
) -> None:
    browser = requests.Session()
    trip = sign_in(browser, gitlab_bot, login, forge="gitlab")
    sent = _query(trip.start.headers["Location"])
    assert (sent["scope"], sent["response_type"], sent["code_challenge_method"]) == (
        "read_api",
        "code",
        "S256",
    )
    assert trip.callback.status_code == 302, trip.callback.text
    assert "HttpOnly" in trip.callback.headers["Set-Cookie"]
    seen = probe(browser, gitlab_bot).json()
    assert (seen["forge"], seen["login"], seen["visible"]) == ("gitlab", login, visible)
    assert seen["admin"] == (login == "root")  # github:alice is no GitLab admin


def test_gitlab_sign_in_refuses_another_state(gitlab_bot: Bot) -> None:
    trip = sign_in(requests.Session(), gitlab_bot, "alice", forge="gitlab", state="nope")
    assert trip.callback.status_code == 400 and "state differs" in trip.callback.text


# -- settings -----------------------------------------------------------------------------------
def test_sign_in_settings_are_read_checked_and_kept_secret() -> None:
    env = {
        "GITHUB_CLIENT_ID": "Iv1.abc",
        "GITHUB_CLIENT_SECRET": "shh-github",
        "GITLAB_URL": "https://gitlab.example.com",
        "GITLAB_TOKEN": "glpat-x",
        "GITLAB_WEBHOOK_SECRET": "hook",
        "GITLAB_OAUTH_CLIENT_ID": "uid",
        "GITLAB_OAUTH_CLIENT_SECRET": "shh-gitlab",
        "COMPLIANCE_BOT_DASHBOARD_ADMINS": " alice , github:Bob,gitlab:carol.d ",
        "COMPLIANCE_BOT_SESSION_HOURS": "12",
    }
    settings = Settings.from_env(env, dotenv=None)
    assert settings.dashboard_forges == ("github", "gitlab") and settings.dashboard_enabled
    assert settings.dashboard_admins == ("alice", "github:Bob", "gitlab:carol.d")
    assert settings.session_hours == 12
    assert settings.dashboard_admin("gitlab", "ALICE") and settings.dashboard_admin("github", "bob")
    assert not settings.dashboard_admin("gitlab", "bob")
    assert not settings.dashboard_admin("github", "carol.d")
    assert "shh" not in repr(settings)
    assert Settings.from_env({}, dotenv=None).dashboard_forges == ()
    assert Settings.from_env({}, dotenv=None).session_hours == 8


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GITHUB_CLIENT_ID": "Iv1.abc"}, "GITHUB_CLIENT_SECRET"),
        ({"GITHUB_CLIENT_SECRET": "shh"}, "GITHUB_CLIENT_ID"),
        ({"GITLAB_OAUTH_CLIENT_ID": "x", "GITLAB_OAUTH_CLIENT_SECRET": "shh"}, "GITLAB_URL"),
        ({"COMPLIANCE_BOT_DASHBOARD_ADMINS": "bitbucket:al"}, "COMPLIANCE_BOT_DASHBOARD_ADMINS"),
        ({"COMPLIANCE_BOT_DASHBOARD_ADMINS": "al ice"}, "COMPLIANCE_BOT_DASHBOARD_ADMINS"),
        ({"COMPLIANCE_BOT_SESSION_HOURS": "0"}, "COMPLIANCE_BOT_SESSION_HOURS"),
        ({"COMPLIANCE_BOT_SESSION_HOURS": "eight"}, "COMPLIANCE_BOT_SESSION_HOURS"),
    ],
)
def test_sign_in_settings_errors_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, dotenv=None)
    assert named in str(caught.value) and "shh" not in str(caught.value)


def test_an_app_registered_by_the_setup_page_can_sign_people_in(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """The manifest registers the sign-in's callback URL, and the client ID and secret GitHub
    hands back with the App are stored and used, unless the environment names others."""
    from bot.web.setup import manifest

    public = "https://bot.example.test"
    services = Services(
        Settings(data_dir=tmp_path, github_api_url=fake_github.api_url, public_url=public)
    )
    services.migrate()
    client = build_app(services).test_client()
    setup_page = client.get("/").get_data(as_text=True)
    assert "GITHUB_CLIENT_ID" in setup_page and "/dashboard/oauth/github/callback" in setup_page
    state = setup_page.split("?state=", 1)[1].split('"', 1)[0]
    sent = manifest(public)
    assert sent["callback_urls"] == [f"{public}/dashboard/oauth/github/callback"]
    code = fake_github.manifest_code(sent)
    done = client.get(f"/setup/callback?code={code}&state={state}")
    (app,) = fake_github.state.apps.values()
    assert done.status_code == 200 and app.client_id in done.get_data(as_text=True)
    assert services.settings.dashboard_forges == ("github",)
    assert services.settings.github_client_secret == app.client_secret
    start = client.get("/dashboard/sign-in/github", base_url=public)
    assert _query(start.headers["Location"])["client_id"] == app.client_id
    services.store.dispose()


def test_sessions_on_each_database(
    database: tuple[str, str], fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Sign in, be seen, expire, sign out: the same on SQLite and on PostgreSQL (times with
    and without a zone, the repositories as JSON)."""
    _url, env_url = database
    fake = fake_github
    fake.webhook_mode = "manual"
    fake.add_org("acme", members=["alice"])
    fake.create_repo("acme/web")
    fake.add_collaborator("acme/web", "alice", "write")
    app = fake.install_app(account="acme")
    clock = Clock()
    bot = Bot(github_settings(tmp_path, fake.web_url, app, database_url=env_url), clock)
    try:
        set_callback_urls(fake, app, f"{bot.url}/dashboard/oauth/github/callback")
        browser = requests.Session()
        assert sign_in(browser, bot, "alice").callback.status_code == 302
        seen = probe(browser, bot).json()
        assert seen["repositories"] == ["acme/web"]
        done = browser.post(
            f"{bot.url}/dashboard/sign-out", data={"csrf": seen["csrf"]}, allow_redirects=False
        )
        assert done.status_code == 303 and bot.sessions() == []
        sign_in(browser, bot, "alice")
        clock.now += timedelta(hours=9)
        requests.get(f"{bot.url}/dashboard/sign-in/github", allow_redirects=False)
        assert [s.login for s in bot.sessions()] == [None]  # the expired one pruned in SQL
        assert probe(browser, bot).status_code == 302
    finally:
        bot.stop()
