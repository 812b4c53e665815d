"""GitLab CODEOWNERS: parsing and matching, table-driven from GitLab's own documented examples.

Sources, all in gitlabhq/gitlabhq: doc/user/project/codeowners/_index.md (locations),
reference.md (syntax, sections, roles, groups, path matching, exclusions), advanced.md (pattern
flags, default owners, duplicate sections, approvals, error handling), and the GitLab EE spec
ee/spec/lib/gitlab/code_owners/file_spec.rb with its fixture ee/spec/fixtures/codeowners_example
for cases the docs leave open. Each table says which one it is taken from.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.exemptions.gitlab_codeowners import (
    LOCATIONS,
    MAX_BYTES,
    Owners,
    SectionRule,
    _fnmatch,
    _normalize,
    find_file,
    parse,
    problems_for,
    rules_for,
)


def who(owners: Owners) -> tuple[str, ...]:
    """Owners as written in the file, for compact tables."""
    return (
        *("@" + n for n in owners.names),
        *("@@" + r for r in owners.roles),
        *owners.emails,
    )


def owners_of(text: str, path: str) -> list[tuple[str, tuple[str, ...]]]:
    """(section, owners) for each section that owns ``path``, in file order."""
    return [(r.section, who(r.owners)) for r in rules_for(parse(text), path)]


def codes(text: str) -> list[tuple[str, int]]:
    return [(p.code, p.line) for p in parse(text).problems]


# -- locations (_index.md "CODEOWNERS file") -------------------------------------------------------


def test_locations_are_gitlabs_search_order():
    assert LOCATIONS == ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, None),
        ({".gitlab/CODEOWNERS": "* @a"}, ".gitlab/CODEOWNERS"),
        ({".gitlab/CODEOWNERS": "* @a", "docs/CODEOWNERS": "* @b"}, "docs/CODEOWNERS"),
        ({".gitlab/CODEOWNERS": "x", "docs/CODEOWNERS": "y", "CODEOWNERS": "z"}, "CODEOWNERS"),
        ({"CODEOWNERS": None, "docs/CODEOWNERS": "* @b"}, "docs/CODEOWNERS"),  # None: absent
        ({"CODEOWNERS": "", "docs/CODEOWNERS": "* @b"}, "CODEOWNERS"),  # an empty file is found
        ({".github/CODEOWNERS": "* @a"}, None),  # GitHub's location, not GitLab's
    ],
)
def test_find_file_takes_the_first_location_present(files, expected):
    assert find_file(files) == expected


# -- reference.md: the opening example -----------------------------------------------------------

REFERENCE_EXAMPLE = """\
# Specify a default Code Owner for all files with a wildcard:
* @default-owner

# Specify multiple Code Owners to a specific file:
README.md @doc-team @tech-lead

# Specify a Code Owner to all files with a specific extension:
*.rb @ruby-owner

# Specify Code Owners with usernames or email addresses:
LICENSE @legal janedoe@gitlab.com

# Use group names to match groups and nested groups:
README @group @group/with-nested/subgroup

# Specify a Code Owner to a directory and all its contents:
/docs/ @all-docs
/docs/* @root-docs
/docs/**/*.md @markdown-docs  # Match specific file types in any subdirectory
/db/**/index.md @index-docs   # Match a specific file name in any subdirectory

# Use a section to group related rules:
[Documentation]
ee/docs    @docs
docs       @docs

# Assign a role as a Code Owner:
/config/ @@maintainer
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("app/models/user.rb", [("", ("@ruby-owner",))]),
        ("README.md", [("", ("@doc-team", "@tech-lead"))]),
        ("lib/README.md", [("", ("@doc-team", "@tech-lead"))]),
        ("LICENSE", [("", ("@legal", "janedoe@gitlab.com"))]),
        ("README", [("", ("@group", "@group/with-nested/subgroup"))]),
        ("docs/api/guide.txt", [("", ("@all-docs",))]),
        ("docs/guide.txt", [("", ("@root-docs",))]),
        # Inline comments are not comments: the words after "#" are parsed as (malformed) owners.
        ("docs/api/README.md", [("", ("@markdown-docs",))]),
        ("db/a/b/index.md", [("", ("@index-docs",))]),
        ("config/app.yml", [("", ("@default-owner",)), ("Documentation", ("@@maintainer",))]),
        ("ee/docs", [("", ("@default-owner",)), ("Documentation", ("@docs",))]),
        # "docs" without a trailing "/" names a file called docs, not the directory.
        ("ee/docs/index.html", [("", ("@default-owner",))]),
        ("Gemfile", [("", ("@default-owner",))]),
    ],
)
def test_reference_example(path, expected):
    assert owners_of(REFERENCE_EXAMPLE, path) == expected


def test_reference_example_inline_comments_are_malformed_owners():
    problems = parse(REFERENCE_EXAMPLE).problems
    assert [(p.code, p.line) for p in problems] == [
        ("malformed_entry_owner", 19),
        ("malformed_entry_owner", 20),
    ]
    assert "'#'" in problems[0].message and "'Match'" in problems[0].message


# -- sections (reference.md "Sections", advanced.md) ---------------------------------------------

README_SECTIONS = """\
* @admin

[README Owners]
README.md @user1 @user2
internal/README.md @user4

[README other owners]
README.md @user3
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "README.md",
            [
                ("", ("@admin",)),
                ("README Owners", ("@user1", "@user2")),
                ("README other owners", ("@user3",)),
            ],
        ),
        (
            "internal/README.md",
            [
                ("", ("@admin",)),
                ("README Owners", ("@user4",)),
                ("README other owners", ("@user3",)),
            ],
        ),
        ("main.go", [("", ("@admin",))]),
    ],
)
def test_every_section_applies_and_the_last_match_wins_within_one(path, expected):
    assert owners_of(README_SECTIONS, path) == expected


@pytest.mark.parametrize(
    ("header", "optional", "approvals", "defaults"),
    [  # reference.md "Section headings and names"
        ("[Section name]", False, 1, ()),
        ("^[Section name]", True, 1, ()),
        ("[Section name][5]", False, 5, ()),
        ("[Section name] @username", False, 1, ("@username",)),
        ("[Section name][2] @group @subgroup", False, 2, ("@group", "@subgroup")),
        ("[Section name][0]", False, 1, ()),  # advanced.md "Minimum approvals": 0 means 1
        ("^[Section name] @@developers", True, 1, ("@@developer",)),
    ],
)
def test_section_headers(header, optional, approvals, defaults):
    text = f"{header}\ndocs/ @owner\nREADME.md\n"
    codeowners = parse(text)
    assert [p for p in codeowners.problems if p.line == 1] == []
    (docs,) = rules_for(codeowners, "docs/a.md")
    assert (docs.section, docs.optional, docs.approvals) == ("Section name", optional, approvals)
    assert who(docs.owners) == ("@owner",)  # the line's own owners override the defaults
    readme = rules_for(codeowners, "README.md")
    assert [who(r.owners) for r in readme] == ([defaults] if defaults else [()])


DEFAULT_OWNERS = """\
[Documentation] @docs-team
docs/
README.md

[Database] @database-team @agarcia
model/db/
config/db/database-setup.md @docs-team
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [  # reference.md "Set default Code Owner for a section"
        ("docs/index.md", [("Documentation", ("@docs-team",))]),
        ("README.md", [("Documentation", ("@docs-team",))]),
        ("model/db/schema.rb", [("Database", ("@database-team", "@agarcia"))]),
        ("config/db/database-setup.md", [("Database", ("@docs-team",))]),
        ("app/x.rb", []),
    ],
)
def test_default_owners(path, expected):
    assert parse(DEFAULT_OWNERS).problems == ()
    assert owners_of(DEFAULT_OWNERS, path) == expected


REGULAR_AND_SECTIONS = """\
# Required for all files
* @general-approvers

[Documentation] @docs-team
docs/
README.md
*.txt

[Database] @database-team
model/db/
config/db/database-setup.md @docs-team
"""


def test_unnamed_section_is_not_overridden_by_sections():
    # advanced.md "Regular entries and sections": model/db/CHANGELOG.txt needs three approvals.
    assert owners_of(REGULAR_AND_SECTIONS, "model/db/CHANGELOG.txt") == [
        ("", ("@general-approvers",)),
        ("Documentation", ("@docs-team",)),
        ("Database", ("@database-team",)),
    ]


DUPLICATE_SECTIONS = """\
[Documentation]
ee/docs/    @docs
docs/       @docs

[Database]
README.md  @database
model/db/   @database

[DOCUMENTATION]
README.md  @docs
"""


def test_duplicate_sections_combine_case_insensitively_under_the_first_spelling():
    # advanced.md "Sections with duplicate names"
    sections = {s.name: [e.pattern for e in s.entries] for s in parse(DUPLICATE_SECTIONS).sections}
    assert sections == {
        "": [],
        "Documentation": ["ee/docs/", "docs/", "README.md"],
        "Database": ["README.md", "model/db/"],
    }
    assert owners_of(DUPLICATE_SECTIONS, "README.md") == [
        ("Documentation", ("@docs",)),
        ("Database", ("@database",)),
    ]


@pytest.mark.parametrize(
    ("text", "path", "optional"),
    [  # reference.md "Optional sections"; file_spec.rb "#optional_section?"
        ("[Documentation]\n*.md @root\n\n[Ruby]\n*.rb @root\n\n^[Go]\n*.go @root\n", "a.go", True),
        ("[Documentation]\n*.md @root\n\n[Ruby]\n*.rb @root\n\n^[Go]\n*.go @root\n", "a.rb", False),
        ("[Docs]\n*.md @a\n^[Docs]\ndoc/* @a\n", "doc/x.md", False),  # one required half: required
        ("^[Docs]\n*.md @a\n^[docs]\ndoc/* @a\n", "doc/x.md", True),
        ("^[Docs]\n*.md @a\n[Docs]\n", "x.md", True),  # an empty required header adds no entry
    ],
)
def test_optional_sections(text, path, optional):
    (rule,) = rules_for(parse(text), path)
    assert rule.optional is optional


def test_approvals_come_from_the_header_of_the_matching_entry():
    # advanced.md "Require multiple approvals from Code Owners"
    text = "[Documentation][2]\n*.md @tech-writer-team\n\n[Ruby]\n*.rb @dev-team\n"
    assert [r.approvals for r in rules_for(parse(text), "a.md")] == [2]
    assert [r.approvals for r in rules_for(parse(text), "a.rb")] == [1]
    combined = "[Docs][3]\n*.md @a\n[docs]\n*.txt @b\n"
    assert [r.approvals for r in rules_for(parse(combined), "a.md")] == [3]
    assert [r.approvals for r in rules_for(parse(combined), "a.txt")] == [0 + 1]


def test_headers_only_start_a_line():
    # file_spec.rb "when CODEOWNERS file contains sections at the middle of a line"
    text = (
        "    [Required]\n*_spec.rb @gl-test\n\n^[Optional]\n*_spec.rb @gl-test\n\n"
        "Something before [Partially optional]\n*.md @gl-docs\n"
    )
    codeowners = parse(text)
    assert [s.name for s in codeowners.sections] == ["", "Required", "Optional"]
    assert [e.pattern for e in codeowners.sections[2].entries] == ["*_spec.rb", "Something", "*.md"]


def test_a_section_called_codeowners_joins_the_unnamed_section():
    # section_parser.rb find_section_name: "codeowners" is the unnamed section's internal name.
    first = parse("* @a\n[codeowners]\n*.rb @b\n")
    assert [s.name for s in first.sections] == [""]
    later = parse("[Docs]\n*.md @d\n[CODEOWNERS]\n*.rb @b\n")
    assert [(s.name, len(s.entries)) for s in later.sections] == [("", 1), ("Docs", 1)]


# -- roles, groups and owners (reference.md, reference_extractor.rb) -----------------------------


@pytest.mark.parametrize(
    ("owners", "expected", "malformed"),
    [
        ("@@developer @@maintainer", ("@@developer", "@@maintainer"), False),
        ("@@developers @@Maintainers @@OWNER", ("@@developer", "@@maintainer", "@@owner"), False),
        ("@@owner @@owners", ("@@owner",), False),
        ("@group-x", ("@group-x",), False),
        ("@group-x/subgroup-y", ("@group-x/subgroup-y",), False),
        ("@group-x @group-x/subgroup-y", ("@group-x", "@group-x/subgroup-y"), False),
        ("@gitlab-org/maintainers/group-name", ("@gitlab-org/maintainers/group-name",), False),
        ("@legal janedoe@gitlab.com", ("@legal", "janedoe@gitlab.com"), False),
        ("@user @User", ("@user",), False),  # GitLab compares names case-insensitively
        ("@user@host.org", ("@user", "user@host.org"), False),  # both regexes match
        ("@a,", ("@a",), False),  # a token with any reference in it is accepted
        ("@@devs", (), True),
        ("@@guest", (), True),  # only developer, maintainer and owner
        ("not_a_user_not_an_email", (), True),
        (
            "malformed @valid-user @valid-group another_malformed",
            ("@valid-user", "@valid-group"),
            True,
        ),
        (
            "@group user_without_at_symbol @user_with_at_symbol",
            ("@group", "@user_with_at_symbol"),
            True,
        ),
    ],
)
def test_owner_references(owners, expected, malformed):
    codeowners = parse(f"file.md {owners}\n")
    (rule,) = rules_for(codeowners, "file.md")
    assert who(rule.owners) == expected
    assert [p.code for p in codeowners.problems] == (["malformed_entry_owner"] if malformed else [])


def test_a_role_gitlab_matches_but_cannot_name_is_a_problem():
    # Ruby's /i folds U+017F (long s) to "s", so GitLab sees a role it then maps to nothing.
    assert codes("file.md @@owner\u017f\n") == [("unknown_role", 1)]


def test_group_and_user_names_are_not_told_apart():
    (rule,) = rules_for(parse("* @acme @acme/security\n"), "x")
    assert rule.owners.names == ("acme", "acme/security")  # "acme" may be a user or a group


# -- path matching (reference.md "Path matching", advanced.md "Pattern matching") ----------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        # Absolute paths
        ("/README.md", "README.md", True),
        ("/README.md", "docs/README.md", False),
        ("/docs/README.md", "docs/README.md", True),
        ("/docs/README.md", "a/docs/README.md", False),
        # Relative paths are globstar paths
        ("README.md", "README.md", True),
        ("README.md", "internal/README.md", True),
        ("README.md", "app/lib/README.md", True),
        ("internal/README.md", "internal/README.md", True),
        ("internal/README.md", "docs/internal/README.md", True),
        ("internal/README.md", "docs/api/internal/README.md", True),
        ("internal/README.md", "README.md", False),
        ("internal/README.md", "xinternal/README.md", False),
        # Directory paths
        ("/docs/", "docs/a.md", True),
        ("/docs/", "docs/a/b/c.md", True),
        ("/docs/", "docs", False),
        ("/docs/", "other/docs/a.md", False),
        ("lib/", "lib/gitlab/git/repository.rb", True),  # codeowners_example: nested anywhere
        ("lib/", "ee/lib/gitlab/git/repository.rb", True),
        ("/config/", "config/database.yml", True),  # codeowners_example: root only
        ("/config/", "other/config/database.yml", False),
        # Wildcard paths
        ("/docs/*.md", "docs/a.md", True),
        ("/docs/*.md", "docs/api/a.md", False),
        ("/docs/index.*", "docs/index.md", True),
        ("/docs/index.*", "docs/index.html", True),
        ("/docs/index.*", "docs/index.xml", True),
        ("/docs/*spec*", "docs/qa_specs.rb", True),
        ("/docs/*spec*", "docs/spec_helpers.rb", True),
        ("/docs/*spec*", "docs/runtime.spec", True),
        ("/docs/*/README.md", "docs/api/README.md", True),
        ("/docs/*/README.md", "docs/README.md", False),
        ("/docs/*/README.md", "docs/a/b/README.md", False),
        ("/*", "README.md", True),  # file_spec.rb "a glob on the root directory"
        ("/*", "nested/path/README.md", False),
        ("foo/*", "fufoo/bar", False),
        ("foo/*", "baz/foo/bar", True),
        # Globstar paths
        ("/docs/**/index.md", "docs/index.md", True),
        ("/docs/**/index.md", "docs/api/index.md", True),
        ("/docs/**/index.md", "docs/api/graphql/index.md", True),
        ("/docs/**/index.md", "docs/api/graphql/other.md", False),
        ("**/*.rb", "config/database.rb", True),
        ("**/*.rb", "app/controllers/users/stars_controller.rb", True),
        ("**/generated/", "generated/x.js", True),
        ("**/generated/", "a/b/generated/c/x.js", True),
        # FNM_DOTMATCH: "*" matches dotfiles; FNM_PATHNAME: "*" and "?" stop at "/"
        ("*", ".gitignore", True),
        ("*", "a/.hidden/b", True),
        ("/.*", ".gitlab-ci.yml", True),
        ("/?.md", "a.md", True),
        ("/?.md", "ab.md", False),
        ("/a?b", "a/b", False),
        ("*.rb", "a.rb/x", False),
        # Classes, escapes and spaces
        ("/[ab].md", "a.md", True),
        ("/[!ab].md", "a.md", False),
        ("/[^ab].md", "c.md", True),
        ("/[a-c].md", "b.md", True),
        ("/[a/b].md", "/.md", False),  # a class never matches "/"
        ("/\\*.md", "*.md", True),
        ("/\\*.md", "a.md", False),
        ("\\#file_with_pound.rb", "examples/#file_with_pound.rb", True),
        ("path\\ with\\ spaces/", "path with spaces/docs.md", True),
        ("/a[b", "a[b", False),  # an unclosed class never matches (Ruby's fnmatch)
        # Case-sensitive
        ("README.md", "readme.md", False),
    ],
)
def test_path_matching(pattern, path, matches):
    assert bool(rules_for(parse(f"{pattern} @owner\n"), path)) is matches


@pytest.mark.parametrize(
    ("pattern", "glob"),
    [  # file.rb normalize_pattern; file_spec.rb "parses all the required lines"
        ("*", "/**/*"),
        ("*.rb", "/**/*.rb"),
        ("\\#file_with_pound.rb", "/**/#file_with_pound.rb"),
        ("CODEOWNERS", "/**/CODEOWNERS"),
        ("/docs/", "/docs/**/*"),
        ("/docs/*", "/docs/*"),
        ("lib/", "/**/lib/**/*"),
        ("path\\ with\\ spaces/", "/**/path with spaces/**/*"),
        ("a\\\tb", "/**/a b"),
    ],
)
def test_pattern_normalization(pattern, glob):
    assert _normalize(pattern) == glob


def test_leading_slash_on_the_path_is_optional():
    codeowners = parse("/docs/ @a\n")
    assert rules_for(codeowners, "/docs/x") == rules_for(codeowners, "docs/x") != []


def test_paths_with_whitespace_and_username_lookalikes():
    # file_spec.rb "paths with whitespaces and username lookalikes"
    text = "a/weird\\ path\\ with/\\ @username\\ /\\ and-email@lookalikes.com\\ / @user-1 "
    text += "email@gitlab.org @user-2"
    path = "a/weird path with/ @username / and-email@lookalikes.com /test.rb"
    assert owners_of(text, path) == [("", ("@user-1", "@user-2", "email@gitlab.org"))]


def test_spaces_must_be_escaped():
    # advanced.md "Entries with spaces": unescaped, the path ends at the first space.
    codeowners = parse("folder with spaces/*.md @group\n")
    (entry,) = codeowners.sections[0].entries
    assert entry.pattern == "folder"
    assert [p.code for p in codeowners.problems] == ["malformed_entry_owner"]
    assert rules_for(codeowners, "folder with spaces/a.md") == []


# -- last match wins, exclusions (reference.md "Exclusion patterns", file_spec.rb) ---------------


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        # advanced.md "Define Code Owners for specific files or directories"
        ("*.md @doc-team\nterms.md @legal-team\n", "terms.md", [("", ("@legal-team",))]),
        ("terms.md @legal-team\n*.md @doc-team\n", "terms.md", [("", ("@doc-team",))]),
        # A repeated pattern takes the later owners but keeps its first position (a Ruby Hash).
        ("*.rb @a\n/config/ @b\n*.rb @c\n", "config/x.rb", [("", ("@b",))]),
        ("*.rb @a\n/config/ @b\n*.rb @c\n", "app/x.rb", [("", ("@c",))]),
    ],
)
def test_last_matching_pattern_wins(text, path, expected):
    assert owners_of(text, path) == expected


EXCLUSIONS = """\
# All files require approval from @username
* @username

# Except pom.xml which needs no approval
!pom.xml

[Ruby]
# All ruby files require approval from @ruby-team
*.rb @ruby-team

# Except Ruby files in the config directory
!/config/**/*.rb
"""

AUTOMATION = """\
* @default-owner

# Files updated by automation don't need approval.
!package-lock.json
!yarn.lock
!**/generated/          # Any files in generated directories.
!.gitlab-ci.yml
"""


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        (EXCLUSIONS, "pom.xml", []),
        (EXCLUSIONS, "sub/pom.xml", []),
        (EXCLUSIONS, "README.md", [("", ("@username",))]),
        (EXCLUSIONS, "app/user.rb", [("", ("@username",)), ("Ruby", ("@ruby-team",))]),
        (EXCLUSIONS, "config/initializers/x.rb", [("", ("@username",))]),
        # "Exclusions are evaluated in order in their section"
        ("* @default-owner\n!*.rb\n/special/*.rb @ruby-owner\n", "special/x.rb", []),
        # "After a pattern is excluded, it cannot be included again in the same section"
        (
            "[Ruby]\n*.rb @ruby-team\n!/config/**/*.rb\n/config/routes.rb @ops\n",
            "config/routes.rb",
            [],
        ),
        # "use multiple sections"
        (
            "[Ruby]\n*.rb @ruby-team\n!/config/**/*.rb\n\n[Config]\n/config/ @ops-team\n",
            "config/a.rb",
            [("Config", ("@ops-team",))],
        ),
        (AUTOMATION, "package-lock.json", []),
        (AUTOMATION, "web/yarn.lock", []),
        (AUTOMATION, "generated/api.py", []),
        (AUTOMATION, "a/b/generated/c/api.py", []),
        (AUTOMATION, ".gitlab-ci.yml", []),
        (AUTOMATION, "src/main.py", [("", ("@default-owner",))]),
        # file_spec.rb "with nested exclusions"
        (
            "* @group-x\n\n!/app/temp/*\n!/app/*/temp/*\n",
            "app/models/user.rb",
            [("", ("@group-x",))],
        ),
        ("* @group-x\n\n!/app/temp/*\n!/app/*/temp/*\n", "app/temp/temp.rb", []),
        ("* @group-x\n\n!/app/temp/*\n!/app/*/temp/*\n", "app/models/temp/file.rb", []),
        # The same pattern again replaces the exclusion in GitLab's Hash, re-including the files.
        ("* @a\n!*.rb\n*.rb @b\n", "x.rb", [("", ("@b",))]),
        ("* @a\n*.rb @b\n!*.rb\n", "x.rb", []),
    ],
)
def test_exclusions(text, path, expected):
    assert owners_of(text, path) == expected


def test_exclusions_need_no_owners():
    # file_spec.rb "does not require owners for exclusion patterns"
    assert parse(EXCLUSIONS).problems == ()
    assert parse(AUTOMATION).problems == ()


# -- problems (advanced.md "Error handling"; file_spec.rb "#valid?") -----------------------------


def test_gitlab_syntax_errors_with_their_lines():
    text = "*.rb\n\n[]\n*_spec.rb @gl-test\n\n^[Optional][5]\n*.txt @user\n\n[Invalid section\n\n"
    text += "[OK section header]\n"
    assert codes(text) == [
        ("missing_entry_owner", 1),
        ("missing_section_name", 3),
        ("invalid_approval_requirement", 6),
        ("invalid_section_format", 9),
    ]


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("[Docs][q]", "invalid_section_format"),
        ("[Docs][]", "invalid_approval_requirement"),
        ("[Docs][1 2]", "invalid_approval_requirement"),
        ("^[Docs][1]", "invalid_approval_requirement"),
        ("[Docs] docs-team", "invalid_section_owner_format"),
        ("[Docs] @docs, @ops", "invalid_section_format"),
        ("[Docs]@docs", "invalid_section_format"),
        ("[Docs] extra [words]", "invalid_section_owner_format"),
        ("[ ]", "missing_section_name"),
        ("[Docs][ 3 ]", "invalid_section_format"),  # read as 3, but only [3] is well formed
        ("^[Docs", "invalid_section_format"),
    ],
)
def test_header_problems(header, code):
    assert codes(f"{header}\n*.md @a\n") == [(code, 1)]


def test_unparsable_header_is_skipped_and_entries_stay_in_the_previous_section():
    # advanced.md "Unparsable sections"; current GitLab skips the line instead of reading an entry.
    text = "[Docs]\ndocs/**/* @group\n\n[Section name\ndocs/ @docs_group\n"
    assert codes(text) == [("invalid_section_format", 4)]
    # "docs/**/*" and "docs/" are the same glob, "/**/docs/**/*", so the later line replaces it.
    assert owners_of(text, "docs/a.md") == [("Docs", ("@docs_group",))]
    text = "* @group\n\n[Section name\ndocs/ @docs_group\n"
    assert owners_of(text, "docs/a.md") == [("", ("@docs_group",))]


def test_entry_without_owners_takes_defaults_or_is_a_problem():
    assert codes("[Docs] @docs\nREADME.md\n") == []
    assert codes("[Docs]\nREADME.md\n") == [("missing_entry_owner", 2)]
    assert codes("README.md\n") == [("missing_entry_owner", 1)]
    (rule,) = rules_for(parse("README.md\n"), "README.md")
    assert rule.owners == Owners() and not rule.owners  # GitLab keeps an ownerless rule


def test_unmatchable_pattern_is_reported():
    assert codes("docs/[abc @a\n") == [("unmatchable_pattern", 1)]
    assert codes("docs/[abc] @a\n") == []


def test_problem_messages_name_what_is_wrong():
    (problem,) = parse("*.js not_a_user_not_an_email\n").problems
    assert problem.message == (
        "'*.js' has owners GitLab cannot read: 'not_a_user_not_an_email' "
        "(write @user, @group/subgroup, @@role or an email address)"
    )
    (problem,) = parse("^[Docs][2]\n").problems
    assert "optional (^) section cannot require approvals" in problem.message


def test_problems_for_a_path():
    text = "* @a\n*.js nobody\n[Docs][x]\n*.md @b\n"
    codeowners = parse(text)
    assert [p.code for p in codeowners.problems] == [
        "malformed_entry_owner",
        "invalid_section_format",
    ]
    # An entry's problem only touches the paths its pattern matches; a header's touches every path.
    assert [p.line for p in problems_for(codeowners, "web/app.js")] == [2, 3]
    assert [p.line for p in problems_for(codeowners, "README.txt")] == [3]
    assert problems_for(parse("* @a\n*.js nobody\n"), "README.txt") == []


def test_comments_and_blank_lines_are_skipped():
    text = "# app/ @commented-rule\n\n   \n\t# indented comment\n* @default-codeowner\r\n"
    codeowners = parse(text)
    assert codeowners.problems == ()
    (rule,) = rules_for(codeowners, "app/x.rb")
    assert (rule.line, rule.pattern, who(rule.owners)) == (5, "*", ("@default-codeowner",))


# -- bounds -------------------------------------------------------------------------------------


def test_files_over_the_limit_are_refused_as_a_problem():
    codeowners = parse("é" * (MAX_BYTES // 2 + 1))  # two bytes each in UTF-8
    assert codeowners.sections == ()
    assert [(p.line, p.code) for p in codeowners.problems] == [(0, "file_too_large")]
    assert problems_for(codeowners, "any/path") == list(codeowners.problems)
    assert parse("* @a\n" + "#" * (MAX_BYTES - 10)).problems == ()


def test_nul_bytes_are_a_problem_for_every_path():
    codeowners = parse("* @a\x00\n")
    assert [(p.line, p.code) for p in codeowners.problems] == [(0, "binary_content")]
    assert problems_for(codeowners, "x") == list(codeowners.problems)


def test_pathological_globs_stay_fast():
    # Ruby's fnmatch backtracks over one "*" and one "**/" at a time, so this is quadratic at most.
    assert not _fnmatch("/" + "*a" * 50 + "b", "/" + "a" * 5000)
    assert not _fnmatch("/" + "**/a/" * 50 + "b", "/" + "a/" * 2000 + "c")


def test_a_long_run_of_spaces_in_a_header_stays_linear():
    # GitLab's STRICT_HEADER_REGEX backtracks quadratically here; ours reads the same strings.
    assert codes("[Docs]" + " " * 200_000 + "!\n") == [("invalid_section_format", 1)]
    assert codes("[Docs]" + " " * 200_000 + "@docs\n") == []


def test_a_large_owner_list_with_many_at_signs_is_read():
    text = "* " + "-@a.b" * 20_000 + " " + "x" * 100 + "@" * 1000 + "\n"
    codeowners = parse(text)
    (rule,) = rules_for(codeowners, "x")
    # As GitLab's regexes read it: names end at "@", and "-@a.b" is also an email address.
    assert rule.owners == Owners(names=("a.b-", "a.b"), emails=("-@a.b",))
    (problem,) = codeowners.problems
    assert problem.code == "malformed_entry_owner" and len(problem.message) < 200


# -- properties ---------------------------------------------------------------------------------

ALPHABET = st.sampled_from(
    [*"[]^@!*?/\\#-. \t\r\n0123456789abcAZé\x00", "@@", "**/", "[Docs]", "@@owner", "x@y.z"]
)
texts = st.one_of(st.text(), st.lists(ALPHABET, max_size=60).map("".join))
paths = st.one_of(st.text(max_size=40), st.lists(ALPHABET, max_size=20).map("".join))


@given(texts, paths)
def test_parse_and_match_never_raise(text, path):
    codeowners = parse(text)
    rules = rules_for(codeowners, path)
    problems_for(codeowners, path)
    lines = text.count("\n") + 1
    assert all(0 <= p.line <= lines for p in codeowners.problems)
    assert all(isinstance(r, SectionRule) and r.approvals >= 1 for r in rules)
    assert len(rules) <= len(codeowners.sections)  # at most one rule per section
    assert {r.section for r in rules} <= {s.name for s in codeowners.sections}


@given(st.lists(st.sampled_from(["a", "b", ".x", "a b", "é"]), min_size=1, max_size=6))
def test_a_directory_pattern_owns_everything_below_it(segments):
    path = "/".join(segments)
    codeowners = parse(f"/{segments[0].replace(' ', chr(92) + ' ')}/ @o\n")
    assert bool(rules_for(codeowners, path)) is (len(segments) > 1)
