"""Stories of comment commands: from a blocked PR to an approved exception, and every refusal."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.tables import AuditEvent

from .harness import normalised
from .test_check_stories import PRIVILEGED

EXEMPT = (
    '/compliance exempt k8s.privileged --reason "the web pod needs raw sockets for a legacy'
    ' probe" --expires 30d --ticket SEC-12'
)


def bot_replies(world, number):
    return [
        c for c in world.fake.comments_on(world.repo, number) if "compliance-bot:reply" in c.body
    ]


def blocked_pr(world):
    number, sha = world.open_pr({"deploy/web.yaml": PRIVILEGED})
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "failure"
    return number, sha


def test_exempt_opens_an_exception_pr_that_unblocks_the_pr_once_merged(world, golden):
    number, sha = blocked_pr(world)
    comment = world.fake.comment(world.repo, number, f"Please:\n{EXEMPT}\n", user="dev")
    world.bot.wait_idle()
    [reply] = bot_replies(world, number)
    assert "Opened #" in reply.body
    exception_pr = int(reply.body.split("Opened #", 1)[1].split(" ", 1)[0])
    pull = world.fake.pull(world.repo, exception_pr)
    assert pull.pull.head_ref == "compliance/exception/EXC-1"
    # exactly one added entry, nothing else changed
    text = world.fake.file_at(world.repo, pull.pull.head_sha, ".compliance/exceptions.yaml")
    assert text.count("- id:") == 1 and "id: EXC-1" in text
    assert "paths:" in text and "deploy/web.yaml" in text and "ticket: SEC-12" in text
    assert "security" in pull.pull.requested_teams
    assert any(r.content == "eyes" for r in comment.reactions)
    golden(
        "exempt-reply.md",
        normalised(
            reply.body.replace(f"comment={comment.id}", "comment=<id>").replace(
                f"#{exception_pr}", "#<pr>"
            )
        ),
    )

    head = pull.pull.head_sha
    world.fake.review(world.repo, exception_pr, user="alice", event="APPROVE", commit_id=head)
    world.bot.wait_idle()
    assert world.check(head, "compliance/exception-review").conclusion == "success"
    world.fake.merge_pull(world.repo, exception_pr, user="alice")
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "success"  # without a push
    world.fake.comment(world.repo, number, "/compliance list", user="bob")
    world.bot.wait_idle()
    listing = bot_replies(world, number)[-1].body
    assert "`EXC-1`" in listing and "yes, 1 finding" in listing and "dev" in listing


def test_redelivered_comment_opens_no_second_pr_and_no_second_reply(world):
    number, _ = blocked_pr(world)
    world.fake.comment(world.repo, number, EXEMPT, user="dev")
    world.bot.wait_idle()
    delivery = world.fake.deliveries_of("issue_comment", "created")[-1]
    pulls = len(world.repo.pulls())
    # the same delivery again, and the same comment as a new delivery after a lost record
    world.fake.redeliver(delivery.guid)
    world.bot.wait_idle()
    assert len(world.repo.pulls()) == pulls
    assert len(bot_replies(world, number)) == 1


def test_non_collaborator_is_refused_with_the_reason(world, golden):
    number, _ = blocked_pr(world)
    world.fake.add_user("mallory")
    world.fake.comment(world.repo, number, EXEMPT, user="mallory")
    world.bot.wait_idle()
    [reply] = bot_replies(world, number)
    assert "write access" in reply.body
    assert len(world.repo.pulls()) == 1  # no exception PR
    with world.bot.services.store.session() as s:
        actions = [a.action for a in s.scalars(select(AuditEvent))]
    assert "command.refused" in actions
    golden("refusal-no-write.md", normalised(reply.body.split("-->", 1)[1].lstrip()))


def test_quoted_and_fenced_commands_do_nothing(world):
    number, _ = blocked_pr(world)
    world.fake.comment(world.repo, number, f"> {EXEMPT}\n\nWhy not this?", user="dev")
    world.fake.comment(world.repo, number, f"Try:\n```\n{EXEMPT}\n```\n", user="dev")
    world.bot.wait_idle()
    assert bot_replies(world, number) == []
    assert len(world.repo.pulls()) == 1


def test_usage_error_gets_the_usage(world, golden):
    number, _ = blocked_pr(world)
    world.fake.comment(
        world.repo, number, "/compliance exempt k8s.privileged --expires 30d", user="dev"
    )
    world.bot.wait_idle()
    [reply] = bot_replies(world, number)
    assert "--reason" in reply.body and "/compliance exempt POLICY" in reply.body


def test_help_explain_list_recheck_extend_revoke(world):
    number, sha = blocked_pr(world)
    world.fake.comment(world.repo, number, "/compliance help", user="bob")
    world.fake.comment(world.repo, number, "/compliance explain k8s.privileged", user="bob")
    world.fake.comment(world.repo, number, "/compliance list", user="bob")
    world.bot.wait_idle()
    replies = [c.body for c in bot_replies(world, number)]
    assert any("/compliance exempt" in r and "/compliance revoke" in r for r in replies)
    assert any("Privileged containers" in r and "90 days" in r for r in replies)
    assert any("has no exceptions on its base branch" in r for r in replies)
    runs_before = len(world.checks(sha))
    world.fake.comment(world.repo, number, "/compliance recheck", user="dev")
    world.bot.wait_idle()
    assert len(world.checks(sha)) == runs_before == 1
    assert (
        "`compliance` fails (1 blocking, 0 excepted, 0 errors)."
        in bot_replies(world, number)[-1].body
    )
    # extend / revoke an exception that does not exist: refused, with the reason
    world.fake.comment(
        world.repo, number, '/compliance revoke EXC-9 --reason "done now"', user="dev"
    )
    world.bot.wait_idle()
    assert any("there is no exception EXC-9 on main" in c.body for c in bot_replies(world, number))


def _merge_exception(world, number, comment_body, user="dev"):
    """Comment a command on PR `number`, then approve and merge the PR it opens."""
    world.fake.comment(world.repo, number, comment_body, user=user)
    world.bot.wait_idle()
    reply = bot_replies(world, number)[-1].body
    assert "Opened #" in reply, reply
    opened = int(reply.split("Opened #", 1)[1].split(":", 1)[0].split(" ", 1)[0])
    pull = world.fake.pull(world.repo, opened)
    head = pull.pull.head_sha
    assert head in world.repo.verified_commits  # made by the App with no custom author
    world.fake.review(world.repo, opened, user="alice", event="APPROVE", commit_id=head)
    world.bot.wait_idle()
    world.fake.merge_pull(world.repo, opened, user="alice")
    world.bot.wait_idle()
    return reply, opened


def test_extend_and_revoke_open_reviewed_prs_that_change_the_entry(world, golden):
    number, sha = blocked_pr(world)
    _merge_exception(world, number, EXEMPT)
    assert world.check(sha).conclusion == "success"

    reply, _ = _merge_exception(
        world, number, '/compliance extend EXC-1 --expires 60d --reason "upstream fix is late"'
    )
    golden(
        "extend-reply.md",
        normalised(reply.split("-->", 1)[1].lstrip()).replace(
            reply.split("Opened #", 1)[1].split(":", 1)[0], "<pr>"
        ),
    )
    text = world.fake.file_at(world.repo, "main", ".compliance/exceptions.yaml")
    assert text.count("- id:") == 1 and "id: EXC-1" in text
    assert world.check(sha).conclusion == "success"

    reply, _ = _merge_exception(world, number, '/compliance revoke EXC-1 --reason "fixed"')
    text = world.fake.file_at(world.repo, "main", ".compliance/exceptions.yaml")
    assert "EXC-1" not in text
    # the exception is gone: a re-check turns the PR red again
    world.fake.comment(world.repo, number, "/compliance recheck", user="dev")
    world.bot.wait_idle()
    assert world.check(sha).conclusion == "failure"


def test_reply_goldens(world, golden):
    number, _ = blocked_pr(world)
    commands = {
        "help": "/compliance help",
        "explain": "/compliance explain k8s.privileged",
        "explain-unknown": "/compliance explain k8s.privilegd",
        "usage": "/compliance exempt k8s.privileged --expires 30d",
        "unknown-command": "/compliance exmpt k8s.privileged",
        "forbidden-policy": EXEMPT.replace("k8s.privileged", "secrets.aws-access-key"),
        "too-long": EXEMPT.replace("30d", "200d"),
    }
    for name, body in commands.items():
        world.fake.comment(world.repo, number, body, user="dev")
        world.bot.wait_idle()
        reply = bot_replies(world, number)[-1].body
        golden(f"reply-{name}.md", normalised(reply.split("-->", 1)[1].lstrip()))
