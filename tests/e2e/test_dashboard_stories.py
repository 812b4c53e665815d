"""The web dashboard in a real browser: headless Chromium signs in through the fake GitHub's
OAuth pages and reads what the bot recorded while people worked (issue 13's "Must show").

One world serves every story, built once by driving the real bot over HTTP: in acme/shop a
privileged pod is blocked, ``/compliance exempt`` opens EXC-1, alice (a code owner) approves
it and it is merged, the pod is merged under it; EXC-2 goes the same way for a host-network pod
and runs out within the week; EXC-3 is pushed straight to main (unapproved), and a backup agent
mounting a host path stays blocked. In acme/payments, which bob cannot see, carol's PAY-3 is
approved and merged. Deadline sweeps record what they found over three days, and the audit chain
is sealed by a checkpoint and verified. Stories only read, so sharing the world is safe.

People: alice sees both repositories, bob only acme/shop, mallory none, olga is a dashboard
admin. Each story starts with an empty cookie jar; one browser serves the module.

Only the SQLite store runs here, not both modes as the ``world`` fixture does: what a browser
adds (sign-in redirects, cookies, forms, links, rendering) does not depend on the store, and the
dashboard's queries run on PostgreSQL too in ``tests/test_dashboard_queries.py``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fakes.github import FakeGitHub
from fakes.github.handlers.oauth import set_callback_urls
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from bot.audit import checkpoints, verify

from . import browser
from .browser import path_of, screenshot, text, texts, wait_for_path
from .conftest import World, acme_shop
from .harness import BotUnderTest, bot_settings, require_services
from .test_check_stories import PRIVILEGED
from .test_command_stories import EXEMPT
from .worlds import EXCEPTIONS, GitHubForgeWorld

# a browser story takes seconds, and the world it reads fifteen to build
# one world and one browser for the module: on one xdist worker (--dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dashboard-browser")]

HOST_NETWORK = """\
apiVersion: v1
kind: Pod
metadata:
  name: node-exporter
  namespace: monitoring
spec:
  hostNetwork: true
  containers:
    - name: node-exporter
      image: quay.io/prometheus/node-exporter:v1.8.2
"""
EXEMPT_HOST_NETWORK = (
    '/compliance exempt k8s.host-namespaces --reason "node-exporter reads the node network'
    ' counters until the eBPF exporter ships" --expires 6d --ticket SEC-31'
)
HOST_PATH = """\
apiVersion: v1
kind: Pod
metadata:
  name: backup-agent
  namespace: shop
spec:
  containers:
    - name: agent
      image: registry.acme.test/backup-agent:2.4.1
      volumeMounts:
        - name: data
          mountPath: /data
  volumes:
    - name: data
      hostPath:
        path: /var/lib/postgresql
"""


def exception_entry(entry_id: str, policy: str, paths: str, reason: str, by: str, days: int) -> str:
    expires = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
    return (
        f"  - id: {entry_id}\n"
        f"    policy: {policy}\n"
        f"    paths: {paths}\n"
        f"    reason: {reason}\n"
        f"    requested_by: {by}\n"
        f"    expires: {expires}\n"
    )


@dataclass
class Dashboard:
    """The world the stories read, and the numbers they look for."""

    world: World
    blocked: int  # the privileged pod's PR, kept green by EXC-1
    blocked_sha: str
    exception_pr: int  # the PR that added EXC-1
    still_blocked_sha: str  # the backup agent's PR head: red, EXC-3 is not approved

    @property
    def bot(self) -> BotUnderTest:
        return self.world.bot

    @property
    def url(self) -> str:
        return self.world.bot.url


def _open(shop: GitHubForgeWorld, files: dict[str, str | None], branch: str, title: str) -> int:
    number, _ = shop.world.open_pr(files, branch=branch, title=title, user="dev")
    shop.settle()
    return number


def _exempted(shop: GitHubForgeWorld, number: int, command: str) -> int:
    """``command`` on the blocked PR, approved by alice and merged; the exception's PR."""
    assert shop.check(number) == "failure"
    before = set(shop.exception_changes())
    shop.comment(number, f"We need this for now:\n{command}\n")
    [exception] = [n for n in shop.exception_changes() if n not in before]
    shop.approve(exception, "alice")
    shop.merge(exception)
    assert shop.check(number) == "success"
    return exception


def _build(world: World, payments: World) -> Dashboard:
    shop, pay = GitHubForgeWorld(world), GitHubForgeWorld(payments)
    blocked = _open(
        shop, {"deploy/web.yaml": PRIVILEGED}, "legacy-probe", "Raw-socket health probe for web"
    )
    blocked_sha = shop.head(blocked)
    exception_pr = _exempted(shop, blocked, EXEMPT)
    shop.merge(blocked)
    shop.sweep(-2)  # the sweeps of the last days: the overview's history

    exporter = _open(
        shop, {"deploy/node-exporter.yaml": HOST_NETWORK}, "node-exporter", "node-exporter"
    )
    _exempted(shop, exporter, EXEMPT_HOST_NETWORK)
    shop.merge(exporter)
    text = world.fake.file_at(world.repo, "main", EXCEPTIONS)
    world.fake.commit(  # straight to main, past review: recorded, never applied
        world.repo,
        "main",
        {
            EXCEPTIONS: text
            + exception_entry(
                "EXC-3",
                "k8s.host-path",
                '["deploy/backup/**"]',
                "the backup agent reads the database volume",
                "bob",
                45,
            )
        },
        "Allow the backup agent",
        author="bob",
    )
    shop.settle()
    still_blocked = _open(
        shop, {"deploy/backup/agent.yaml": HOST_PATH}, "backup-agent", "Nightly backup agent"
    )
    assert shop.check(still_blocked) == "failure"
    shop.sweep(-1)

    pay_3 = exception_entry(
        "PAY-3",
        "k8s.privileged",
        '["deploy/ledger/**"]',
        "the HSM driver needs /dev access until the vendor ships a device plugin",
        "carol",
        60,
    )
    number, _ = payments.open_pr(
        {EXCEPTIONS: "version: 1\nexceptions:\n" + pay_3},
        branch="exception/pay-3",
        title="Exception for the ledger's HSM driver",
        user="carol",
    )
    pay.settle()
    pay.approve(number, "alice")
    pay.merge(number)
    pay.sweep(-1)
    pay.sweep(0)
    shop.sweep(0)

    # seal the chain and verify it, as the workers do every few minutes
    services = world.bot.services
    now = datetime.now(UTC)
    checkpoints.checkpoint(services.store, services.settings, now)
    signer = checkpoints.load_signer(services.settings)
    assert signer is not None
    found = verify.scheduled(services.store, signer.verifier, now, every=timedelta(0))
    assert found is not None and found.intact, found and found.problem
    return Dashboard(world, blocked, blocked_sha, exception_pr, shop.head(still_blocked))


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("dashboard")
    fake = FakeGitHub(root / "fake-github").start()
    try:
        fw = acme_shop(fake)
        fake.add_user("carol")
        fake.add_user("mallory")
        fake.add_user("olga", name="Olga Berg")
        payments = fake.create_repo(
            "acme/payments",
            files={
                "README.md": "# payments\n",
                EXCEPTIONS: "version: 1\nexceptions: []\n",
                ".github/CODEOWNERS": "/.compliance/ @acme/platform\n",
                "deploy/ledger/hsm.yaml": PRIVILEGED.replace("web", "ledger-hsm"),
            },
        )
        fake.add_team(
            "acme", "platform", members=["alice", "carol"], repos={"acme/payments": "write"}
        )
        settings = replace(
            bot_settings(root, app=fw.app, api_url=fake.api_url, mode="sqlite", database_url=None),
            github_client_id=fw.app.client_id,
            github_client_secret=fw.app.client_secret,
            dashboard_admins=("github:olga",),
        )
        bot = BotUnderTest(settings, fake=fake, own_public_url=True).start()
        try:
            fw.app.webhook_url = f"{bot.url}/webhooks/github"
            set_callback_urls(fake, fw.app, f"{bot.url}/dashboard/oauth/github/callback")
            world = World(fake, fw.app, fw.installation, fw.repo, bot)
            yield _build(world, replace(world, repo=payments))
        finally:
            bot.stop()
    finally:
        fake.stop()
    if fake.violations:
        lines = "\n".join(f"  - {v}" for v in fake.violations)
        pytest.fail(f"requests GitHub's OpenAPI description does not allow:\n{lines}")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = browser.chromium_missing()
    if missing:
        if require_services():
            pytest.fail(f"COMPLIANCE_BOT_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(missing)
    driver = browser.chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(chromium: WebDriver, dashboard: Dashboard) -> WebDriver:
    """The browser with an empty cookie jar (cookies are per host: the bot and the fake are
    both 127.0.0.1)."""
    chromium.get(f"{dashboard.url}/dashboard/sign-in")
    chromium.delete_all_cookies()
    return chromium


def sign_in(
    driver: WebDriver, dashboard: Dashboard, login: str, *, start: str = "/dashboard/"
) -> None:
    """Open ``start``, be sent to sign in, go through the fake GitHub's authorize page as
    ``login`` and come back to ``start``."""
    driver.get(dashboard.url + start)
    wait_for_path(driver, "/dashboard/sign-in")
    driver.find_element(By.LINK_TEXT, "Sign in with GitHub").click()
    WebDriverWait(driver, browser.WAIT).until(lambda d: d.title.startswith("Authorize"))
    assert driver.current_url.startswith(dashboard.world.fake.web_url + "/login/oauth/authorize")
    field = driver.find_element(By.NAME, "login")
    field.clear()
    field.send_keys(login)
    driver.find_element(By.CSS_SELECTOR, "button[value=authorize]").click()
    wait_for_path(driver, urlsplit(start).path)
    assert driver.current_url.startswith(dashboard.url)


def counts(driver: WebDriver) -> dict[str, int]:
    return {
        e.get_attribute("data-state"): int(e.text)
        for e in driver.find_elements(By.CSS_SELECTOR, "#counts .n")
    }


def table(driver: WebDriver, css: str) -> list[list[str]]:
    """The text of each cell of the body rows of the tables ``css`` selects (read in one
    round trip: cell by cell, a fifty-row page takes seconds)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), (row) =>"
        " Array.from(row.cells, (cell) => cell.innerText.trim()));",
        f"{css} tbody tr",
    )


def query(driver: WebDriver) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


ALICE_SEES = {"active": 2, "expiring": 1, "expired": 0, "unapproved": 1, "unused": 0}


# -- the stories ---------------------------------------------------------------------------------
def test_signing_in_through_the_forge_shows_the_permitted_repositories(page, dashboard, tmp_path):
    page.get(dashboard.url + "/dashboard/")
    wait_for_path(page, "/dashboard/sign-in")
    assert "Sign in with GitHub" in page.page_source
    screenshot(page, "sign-in", tmp_path)

    sign_in(page, dashboard, "alice")
    assert text(page, "h1") == "Exceptions across 2 repositories"
    found = counts(page)
    assert {k: found[k] for k in ALICE_SEES} == ALICE_SEES
    assert "alice" in text(page, "header .who")
    urgent = table(page, "#urgent")
    assert [row[0] for row in urgent] == ["EXC-3", "EXC-2", "EXC-1", "PAY-3"]
    assert {row[1].split()[0] for row in urgent} == {"acme/shop", "acme/payments"}
    assert page.find_elements(By.CSS_SELECTOR, "svg polyline.live")  # three days of sweeps
    screenshot(page, "overview", tmp_path)


def test_each_person_sees_only_the_repositories_they_can_access(page, dashboard):
    sign_in(page, dashboard, "bob")  # acme/shop only
    assert text(page, "h1") == "Exceptions across 1 repository"
    assert {k: counts(page)[k] for k in ALICE_SEES} == {**ALICE_SEES, "active": 1}
    assert "PAY-3" not in page.page_source and "acme/payments" not in page.page_source
    page.get(dashboard.url + "/dashboard/exceptions")
    assert [row[0] for row in table(page, "#exceptions")] == ["EXC-2", "EXC-1", "EXC-3"]
    page.get(dashboard.url + "/dashboard/exceptions/github/acme/payments/-/PAY-3")
    assert "PAY-3" in text(page, "#problem") and "that you can see" in text(page, "#problem")
    page.get(dashboard.url + "/dashboard/audit")
    assert "acme/payments" not in text(page, "#events")

    page.delete_all_cookies()
    sign_in(page, dashboard, "mallory")  # no repository the App is on
    assert text(page, "h1") == "Exceptions across 0 repositories"
    assert set(counts(page).values()) == {0}
    assert "EXC-" not in page.page_source and "PAY-" not in page.page_source
    page.get(dashboard.url + "/dashboard/exceptions")
    assert text(page, "#total") == "0 exceptions."

    page.delete_all_cookies()
    sign_in(page, dashboard, "olga")  # a dashboard admin: everything
    assert "(admin)" in text(page, "header .who")
    assert {k: counts(page)[k] for k in ALICE_SEES} == ALICE_SEES


def test_the_exceptions_table_filters_and_sorts(page, dashboard, tmp_path):
    sign_in(page, dashboard, "alice", start="/dashboard/exceptions")
    # by deadline, soonest first; the unapproved EXC-3 has a deadline too
    assert [row[0] for row in table(page, "#exceptions")] == ["EXC-2", "EXC-1", "EXC-3", "PAY-3"]
    screenshot(page, "exceptions", tmp_path)

    Select(page.find_element(By.NAME, "state")).select_by_value("expiring")
    page.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(page, browser.WAIT).until(lambda d: "state=expiring" in d.current_url)
    assert query(page)["state"] == ["expiring"]
    rows = table(page, "#exceptions")
    assert [row[0] for row in rows] == ["EXC-2"]
    assert all(row[3] == "expiring soon" for row in rows)

    Select(page.find_element(By.NAME, "state")).select_by_value("")
    Select(page.find_element(By.NAME, "policy")).select_by_value("k8s.privileged")
    page.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(page, browser.WAIT).until(lambda d: "policy=k8s.privileged" in d.current_url)
    assert "state" not in query(page) and query(page)["policy"] == ["k8s.privileged"]
    rows = table(page, "#exceptions")
    assert sorted(row[0] for row in rows) == ["EXC-1", "PAY-3"]
    assert {row[2] for row in rows} == {"k8s.privileged"}

    page.find_element(By.LINK_TEXT, "Clear").click()
    wait_for_path(page, "/dashboard/exceptions")
    page.find_element(By.CSS_SELECTOR, "#exceptions thead a[href*='sort=id']").click()
    WebDriverWait(page, browser.WAIT).until(lambda d: "sort=id" in d.current_url)
    assert [row[0] for row in table(page, "#exceptions")] == ["EXC-1", "EXC-2", "EXC-3", "PAY-3"]
    page.find_element(By.CSS_SELECTOR, "#exceptions thead a[href*='sort=id']").click()
    WebDriverWait(page, browser.WAIT).until(lambda d: "order=desc" in d.current_url)
    assert [row[0] for row in table(page, "#exceptions")] == ["PAY-3", "EXC-3", "EXC-2", "EXC-1"]
    assert "▼" in text(page, "#exceptions thead th")


def test_an_exception_page_shows_its_approvals_the_prs_it_keeps_green_and_its_trail(
    page, dashboard, tmp_path
):
    sign_in(page, dashboard, "alice", start="/dashboard/exceptions")
    [row] = [
        r
        for r in page.find_elements(By.CSS_SELECTOR, "#exceptions tbody tr")
        if r.text.startswith("EXC-1 acme/shop")
    ]
    row.find_element(By.LINK_TEXT, "EXC-1").click()
    wait_for_path(page, "/dashboard/exceptions/github/acme/shop/-/EXC-1")
    assert text(page, "h1") == "EXC-1 in acme/shop"
    facts = text(page, "section.exception")
    assert "active" in facts and "SEC-12" in facts and "k8s.privileged" in facts

    [approval] = table(page, "#approvals")
    assert approval[0] == "alice" and approval[1] == f"#{dashboard.exception_pr}"
    [kept] = table(page, "#kept-green")
    assert kept[0] == f"#{dashboard.blocked}" and kept[1] == dashboard.blocked_sha[:12]
    assert kept[2] == "success"

    # the trail, oldest first: (who, what, PR)
    trail = [(row[2], row[3], row[4]) for row in table(page, "#trail")]
    [command] = [i for i, (_, what, _) in enumerate(trail) if what.startswith("command.exempt")]
    [approval] = [
        i
        for i, (_, what, _) in enumerate(trail)
        if what.startswith("check.concluded exception review success: approved by alice")
    ]
    [merge] = [i for i, (_, what, _) in enumerate(trail) if what.startswith("exception.approved")]
    assert command < approval < merge
    assert trail[command][0] == "dev" and trail[command][2] == f"#{dashboard.blocked}"
    assert trail[approval][2] == f"#{dashboard.exception_pr}"
    assert trail[merge][0] == "alice" and "merged" in trail[merge][1]
    assert trail[merge][2] == f"#{dashboard.exception_pr}"
    screenshot(page, "exception", tmp_path)


def test_the_csv_export_carries_the_filter_and_the_session(page, dashboard):
    sign_in(page, dashboard, "alice", start="/dashboard/exceptions?policy=k8s.privileged")
    href = page.find_element(By.ID, "export-csv").get_attribute("href")
    assert urlsplit(href).path == "/dashboard/exceptions.csv" and "policy=k8s.privileged" in href

    fetched = fetch(page, href)
    assert fetched["status"] == 200 and fetched["type"].startswith("text/csv")
    assert "attachment" in fetched["disposition"]
    rows = list(csv.DictReader(io.StringIO(fetched["text"])))
    assert sorted((r["repository"], r["id"]) for r in rows) == [
        ("acme/payments", "PAY-3"),
        ("acme/shop", "EXC-1"),
    ]
    [exc_1] = [r for r in rows if r["id"] == "EXC-1"]
    assert (exc_1["state"], exc_1["approvers"], exc_1["ticket"]) == ("active", "alice", "SEC-12")
    assert exc_1["approval_pull_request"] == str(dashboard.exception_pr)

    # the same address without the browser's cookie is a trip to the sign-in page
    anonymous = fetch(page, href, credentials="omit")
    assert urlsplit(anonymous["url"]).path == "/dashboard/sign-in"
    assert "EXC-1" not in anonymous["text"]


def fetch(driver: WebDriver, url: str, *, credentials: str = "same-origin") -> dict:
    """``fetch(url)`` in the page, with the browser's cookies (or none)."""
    return driver.execute_async_script(
        """
        const [url, credentials, done] = arguments;
        fetch(url, {credentials}).then(async (r) => done({
            status: r.status, url: r.url, text: await r.text(),
            type: r.headers.get("content-type") || "",
            disposition: r.headers.get("content-disposition") || "",
        })).catch((e) => done({status: 0, url: "", text: String(e), type: "", disposition: ""}));
        """,
        url,
        credentials,
    )


def test_a_checks_details_link_opens_its_report(page, dashboard, tmp_path):
    world = dashboard.world
    red = world.check(dashboard.still_blocked_sha)
    assert red.conclusion == "failure"
    assert red.details_url == (
        f"{dashboard.url}/dashboard/checks/github/acme/shop/-/{dashboard.still_blocked_sha}"
    )
    sign_in(page, dashboard, "bob", start=urlsplit(red.details_url).path)
    assert page.current_url == red.details_url
    assert text(page, "#conclusion") == "failure"
    assert texts(page, "h2")[0] == "Blocking findings (1)"
    [finding] = table(page, "table.findings:first-of-type")
    assert finding[0] == "k8s.host-path" and finding[2].startswith("deploy/backup/agent.yaml")
    assert "EXC-3" in page.page_source  # named, as unapproved and ignored
    screenshot(page, "check", tmp_path)

    green = world.check(dashboard.blocked_sha)
    assert green.conclusion == "success"
    page.get(green.details_url)
    assert text(page, "#conclusion") == "success"
    assert not [h for h in texts(page, "h2") if h.startswith("Blocking")]
    [covered] = [row for row in table(page, "table.findings") if row[0] == "k8s.privileged"]
    assert covered[2].startswith("deploy/web.yaml") and covered[4] == "EXC-1"
    page.find_element(By.LINK_TEXT, "EXC-1").click()
    wait_for_path(page, "/dashboard/exceptions/github/acme/shop/-/EXC-1")


def test_the_audit_log_shows_the_verified_chain(page, dashboard, tmp_path):
    sign_in(page, dashboard, "alice", start="/dashboard/audit")
    banner = page.find_element(By.ID, "verification")
    assert "ok" in banner.get_attribute("class").split()
    assert banner.text.startswith("Chain verified intact")
    assert "matching the signed checkpoint" in banner.text
    actions = {row[4].split()[0] for row in table(page, "#events")}
    assert {"command.exempt", "exception.approved", "check.concluded"} <= actions
    screenshot(page, "audit", tmp_path, whole=False)  # the first screen: fifty events is long


def test_a_post_without_the_csrf_token_and_a_tampered_cookie_are_refused(page, dashboard):
    sign_in(page, dashboard, "alice")
    page.execute_script(
        "const form = document.querySelector('form.who');"
        "form.querySelector('input[name=csrf]').remove();"
        "form.submit();"
    )
    wait_for_path(page, "/dashboard/sign-out")
    assert text(page, "h1") == "Request refused"
    assert "did not come from the dashboard" in page.page_source
    page.get(dashboard.url + "/dashboard/")  # still signed in: nothing was done
    assert path_of(page) == "/dashboard/" and counts(page)["active"] == 2

    cookie = page.get_cookie("compliance-bot-session")
    assert cookie is not None and cookie["httpOnly"]
    page.delete_cookie(cookie["name"])
    value = cookie["value"]
    page.add_cookie(
        {
            "name": cookie["name"],
            "value": value[:-1] + ("A" if value[-1] != "A" else "B"),
            "path": "/",
            "httpOnly": True,
        }
    )
    page.get(dashboard.url + "/dashboard/exceptions")
    wait_for_path(page, "/dashboard/sign-in")
    assert query(page)["next"] == ["/dashboard/exceptions"]
    assert "Sign in with GitHub" in page.page_source
