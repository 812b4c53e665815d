"""Score the bundled Kubernetes pack against a labelled corpus, one control at a time.

    python benchmarks/corpus.py [--corpus ../shared/corpora/kubernetes] [--markdown] [--verbose]

Each labelled document is judged by the one policy that declares the control's standard id,
with no other policy enabled (unrelated policies would rightly flag the corpus's placeholder
images). A document is "flagged" when that policy reports a finding on its resource. Exit code 1
when any document is misjudged, so the script can gate a change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from bot.engine.evaluate import Engine
from bot.engine.loader import load_bundled
from bot.engine.model import SourceFile

# kyverno policy folder -> the standard id our pack must declare (the corpus README's table)
CONTROLS = {
    "disallow-host-process": "pss/baseline/host-process",
    "disallow-host-namespaces": "pss/baseline/host-namespaces",
    "disallow-privileged-containers": "pss/baseline/privileged-containers",
    "disallow-capabilities": "pss/baseline/capabilities",
    "disallow-host-path": "pss/baseline/host-path-volumes",
    "disallow-host-ports": "pss/baseline/host-ports",
    "restrict-apparmor-profiles": "pss/baseline/apparmor",
    "disallow-selinux": "pss/baseline/selinux",
    "disallow-proc-mount": "pss/baseline/proc-mount",
    "restrict-seccomp": "pss/baseline/seccomp",
    "restrict-sysctls": "pss/baseline/sysctls",
    "restrict-volume-types": "pss/restricted/volume-types",
    "disallow-privilege-escalation": "pss/restricted/privilege-escalation",
    "require-run-as-nonroot": "pss/restricted/running-as-non-root",
    "require-run-as-non-root-user": "pss/restricted/running-as-non-root-user",
    "restrict-seccomp-strict": "pss/restricted/seccomp",
    "disallow-capabilities-strict": "pss/restricted/capabilities",
    "disallow-latest-tag": "k8s/best-practice/latest-tag",
    "require-pod-requests-limits": "k8s/best-practice/requests-limits",
    "require-probes": "k8s/best-practice/probes",
    "require-ro-rootfs": "k8s/best-practice/read-only-root-filesystem",
    "require-drop-all": "k8s/best-practice/drop-all-capabilities",
    "disallow-default-namespace": "k8s/best-practice/default-namespace",
    "restrict-node-port": "k8s/best-practice/node-port",
    "disallow-cri-sock-mount": "k8s/best-practice/cri-socket-mount",
}


# Documents where the pack follows the Pod Security Standards text rather than the corpus label.
# Each is reported as a documented divergence, not an error; docs/benchmarks.md quotes the text.
PSS_SELINUX = (
    "PSS baseline, SELinux: allowed spec.securityContext.seLinuxOptions.type values are "
    '"Undefined/"", container_t, container_init_t, container_kvm_t, container_engine_t '
    '(since Kubernetes 1.31)"'
)
DIVERGENCES = {
    (
        "disallow-selinux",
        "pod-security/baseline/disallow-selinux/bad/pod-bad.yaml",
        name,
    ): PSS_SELINUX
    for name in ("Pod/badpod01-new", "Pod/badpod03-new", "Pod/badpod04-new")
} | {
    (
        "disallow-selinux",
        "pod-security/baseline/disallow-selinux/bad/podcontroller-bad.yaml",
        name,
    ): PSS_SELINUX
    for name in ("Deployment/baddeployment01-new", "CronJob/badcronjob01-new")
}


def score(corpus: Path) -> list[dict]:
    labels = json.loads((corpus / "labels.json").read_text())["labels"]
    policies = load_bundled(["kubernetes"])
    by_standard = {s: p for p in policies for s in p.standards}
    grouped: dict[str, list[dict]] = defaultdict(list)
    for label in labels:
        grouped[label["kyverno_policy"]].append(label)
    rows = []
    for control, items in sorted(grouped.items()):
        standard = CONTROLS.get(control)
        if standard is None:
            continue  # not scored (e.g. the host-ports-range variant)
        policy = by_standard.get(standard)
        row = {
            "control": control,
            "standard": standard,
            "policy": policy.id if policy else None,
            "documents": len(items),
            "right": 0,
            "false_positives": [],
            "false_negatives": [],
            "errors": [],
            "divergences": [],
        }
        if policy is None:
            row["false_negatives"] = [
                f"{i['file']} {i['kind']}/{i['name']}" for i in items if i["expected"] == "fail"
            ]
            row["right"] = sum(1 for i in items if i["expected"] == "pass")
            rows.append(row)
            continue
        engine = Engine([policy])
        flagged_by_file: dict[str, set[tuple[str, str]]] = {}
        for item in items:
            if item["file"] not in flagged_by_file:
                text = (corpus / item["file"]).read_text("utf-8")
                result = engine.evaluate([SourceFile("corpus/" + Path(item["file"]).name, text)])
                row["errors"].extend(str(e) for e in result.errors)
                flagged_by_file[item["file"]] = {
                    (f.resource.kind, f.resource.name) for f in result.findings if f.resource
                }
            flagged = (item["kind"], item["name"]) in flagged_by_file[item["file"]]
            expected = item["expected"] == "fail"
            where = f"{item['file']} {item['kind']}/{item['name']}"
            documented = DIVERGENCES.get((control, item["file"], f"{item['kind']}/{item['name']}"))
            if flagged == expected:
                row["right"] += 1
            elif documented:
                row["divergences"].append(f"{where}: {documented}")
            elif flagged:
                row["false_positives"].append(where)
            else:
                row["false_negatives"].append(where)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "kubernetes"
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--markdown", action="store_true", help="print the docs table")
    parser.add_argument("--verbose", action="store_true", help="list every misjudged document")
    args = parser.parse_args()
    rows = score(args.corpus)
    total = sum(r["documents"] for r in rows)
    right = sum(r["right"] for r in rows)
    diverged = sum(len(r["divergences"]) for r in rows)
    wrong = sum(len(r["false_positives"]) + len(r["false_negatives"]) for r in rows)
    if args.markdown:
        print(
            "| control | standard | policy | documents | right | false pos. | false neg. | "
            "follows PSS text |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['control']} | `{r['standard']}` | `{r['policy']}` | {r['documents']} | "
                f"{r['right']} | {len(r['false_positives'])} | {len(r['false_negatives'])} | "
                f"{len(r['divergences'])} |"
            )
        print(
            f"| **all** | | | {total} | {right} | "
            f"{sum(len(r['false_positives']) for r in rows)} | "
            f"{sum(len(r['false_negatives']) for r in rows)} | {diverged} |"
        )
    else:
        for r in rows:
            bad = len(r["false_positives"]) + len(r["false_negatives"])
            mark = "ok " if bad == 0 and not r["errors"] else "BAD"
            extra = f" (+{len(r['divergences'])} following PSS text)" if r["divergences"] else ""
            print(
                f"{mark} {r['control']:<32} {r['policy'] or '(no policy)':<34} "
                f"{r['right']}/{r['documents']}{extra}"
            )
            if args.verbose or bad:
                for w in r["false_positives"]:
                    print(f"      false positive: {w}")
                for w in r["false_negatives"]:
                    print(f"      false negative: {w}")
                for e in r["errors"][:5]:
                    print(f"      error: {e}")
            if args.verbose:
                for d in r["divergences"]:
                    print(f"      follows PSS text: {d}")
        print(
            f"{right}/{total} documents judged as labelled, {diverged} judged by the PSS text "
            f"where the label differs, {wrong} wrong"
        )
    return 0 if wrong == 0 and not any(r["errors"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
