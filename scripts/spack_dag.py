# Helper of scripts/gen_spack_dag_mirror: a many-package DAG built, installed and listed by real
# Spack (>= 1.0). Modes:
#
#   python3 spack_dag.py repo DIR N
#       write the package repository `spackdag` (package API v2) of N tiny packages dag-0000 ...
#       to DIR (plain Python, no Spack needed); prints the repository's path.
#   spack python spack_dag.py build OUT.json N
#       assemble the N concrete specs by hand (no concretizer: every node gets its version,
#       architecture, `build_system` variant and empty flag lists, the dependency edges are
#       added and the hashes assigned), build them all with Spack's PackageInstaller (each
#       package's install() really runs), write OUT.json: every spec's name, DAG hash, prefix
#       and dependencies, and the roots (the specs nothing depends on).
#   spack python spack_dag.py installed OUT.json
#       write the specs the install database of the instance holds (name, hash, prefix).
#   python3 spack_dag.py compare ROOT_A ROOT_B
#       check that two install trees hold the same prefixes with the same entries (type, mode,
#       symlink target, content with each tree's root replaced by one placeholder; the
#       timings in .spack/install_times.json excepted; in ELF files, where relocated strings keep
#       their length, leading slashes before the root and runs of NULs do not count); exits non-zero naming the
#       differences.
#
# The DAG depends only on the package index, so the first N packages of any larger DAG are the
# DAG of N: package i depends on up to three packages chosen among the earlier ones (a seeded
# generator), so early packages are shared by many.
import json
import os
import random
import re
import sys

NAMESPACE = "spackdag"
ARCH = "arch=linux-debian12-x86_64"  # a generic target: any x86_64 host installs it


def name_of(i):
    return f"dag-{i:04d}"


def dag(n):
    """[(name, [dependency names])] of the first n packages."""
    rng = random.Random(19)
    out = []
    for i in range(n):
        k = min(i, rng.choice((0, 1, 2, 2, 3, 3)) if i > 3 else i)
        picks = sorted(rng.sample(range(i), k)) if k else []
        out.append((name_of(i), [name_of(j) for j in picks]))
    return out


RECIPE = '''# A generated package of the spackle many-package benchmark (scripts/spack_dag.py).
import os
import subprocess

from spack.package import *


class {cls}(Package):
    """A tiny package: a text file naming its prefix and its dependencies' prefixes, a shell
    script, a header and a shared library linking its dependencies' libraries with an RPATH
    into each of their prefixes."""

    homepage = "https://example.invalid/{name}"
    has_code = False

    version("1.0")

{depends}    def install(self, spec, prefix):
        name, sym = "{name}", "{sym}"
        deps = {deps!r}
        p = str(prefix)
        for d in ("bin", "include", "lib", os.path.join("share", name)):
            os.makedirs(os.path.join(p, d), exist_ok=True)
        dep_prefixes = [str(spec[d].prefix) for d in deps]
        with open(os.path.join(p, "share", name, "prefixes.txt"), "w") as f:
            f.write(f"{{name}} {{p}}\\n")
            for d, dp in zip(deps, dep_prefixes):
                f.write(f"{{d}} {{dp}}\\n")
        script = os.path.join(p, "bin", name)
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\\necho "{{name}} at {{p}}"\\n')
            for d, dp in zip(deps, dep_prefixes):
                f.write(f'echo "  needs {{dp}}/bin/{{d}}"\\n')
        os.chmod(script, 0o755)
        with open(os.path.join(p, "include", sym + ".h"), "w") as f:
            f.write(f'#define {{sym.upper()}}_PREFIX "{{p}}"\\nint {{sym}}(void);\\n')
        with open(sym + ".c", "w") as f:
            f.write("".join(f"int {{d.replace('-', '_')}}(void);\\n" for d in deps))
            f.write(f'const char *{{sym}}_prefix(void) {{{{ return "{{p}}"; }}}}\\n')
            f.write(f"int {{sym}}(void) {{{{ return 1")
            f.write("".join(f" + {{d.replace('-', '_')}}()" for d in deps) + "; }}\\n")
        lib = os.path.join(p, "lib")
        cmd = ["/usr/bin/gcc", "-O1", "-fPIC", "-shared", "-Wl,--disable-new-dtags",
               "-Wl,-soname,lib" + sym + ".so", "-Wl,-rpath," + lib]
        for d, dp in zip(deps, dep_prefixes):
            cmd += ["-Wl,-rpath," + os.path.join(dp, "lib"), "-L" + os.path.join(dp, "lib"),
                    "-l" + d.replace("-", "_")]
        subprocess.check_call(cmd[:5] + ["-o", os.path.join(lib, "lib" + sym + ".so"),
                                         sym + ".c"] + cmd[5:])
'''


def write_repo(top, n):
    repo = os.path.join(top, "spack_repo", NAMESPACE)
    os.makedirs(os.path.join(repo, "packages"), exist_ok=True)
    open(os.path.join(top, "spack_repo", "__init__.py"), "w").close()
    with open(os.path.join(repo, "repo.yaml"), "w") as f:
        f.write(f"repo:\n  namespace: {NAMESPACE}\n  api: v2.1\n")
    for name, deps in dag(n):
        d = os.path.join(repo, "packages", name.replace("-", "_"))
        os.makedirs(d, exist_ok=True)
        depends = "".join(f'    depends_on("{x}", type=("build", "link"))\n' for x in deps)
        with open(os.path.join(d, "package.py"), "w") as f:
            f.write(
                RECIPE.format(
                    cls=name.replace("-", " ").title().replace(" ", ""),
                    name=name,
                    sym=name.replace("-", "_"),
                    deps=deps,
                    depends=depends + "\n" if depends else "",
                )
            )
    print(repo)


def build(out, n):
    import spack.deptypes as dt
    import spack.installer
    import spack.spec
    import spack.store
    import spack.variant as vt

    nodes = {}
    for name, _ in dag(n):
        s = spack.spec.Spec(f"{NAMESPACE}.{name}@=1.0 {ARCH}")
        s.variants["build_system"] = vt.VariantValue.from_concretizer(
            "build_system", "generic", "single"
        )
        for flag in spack.spec.FlagMap.valid_compiler_flags():
            s.compiler_flags[flag] = []
        nodes[name] = s
    needed = set()
    for name, deps in dag(n):
        for d in deps:
            nodes[name]._add_dependency(nodes[d], depflag=dt.canonicalize(("build", "link")),
                                        virtuals=())
            needed.add(d)
    roots = [s for name, s in nodes.items() if name not in needed]
    for r in roots:
        r._finalize_concretization()
    assert all(s.concrete for s in nodes.values())
    jobs = int(os.environ.get("SPACK_DAG_JOBS", "2"))
    spack.installer.PackageInstaller(
        [s.package for s in roots],
        explicit=True,
        root_policy="source_only",
        dependencies_policy="source_only",
        concurrent_packages=jobs,
        fail_fast=True,
        verbose=False,
    ).install()
    specs = []
    for name, s in nodes.items():
        assert s.installed, f"{name} was not installed"
        specs.append({
            "name": name,
            "hash": s.dag_hash(),
            "prefix": str(s.prefix),
            "dependencies": [e.spec.name for e in s.edges_to_dependencies()],
        })
    with open(out, "w") as f:
        json.dump({
            "spack_version": spack.spack_version,
            "store": str(spack.store.STORE.layout.root),
            "specs": specs,
            "roots": [r.dag_hash() for r in roots],
        }, f, indent=1)
    print(f"built {len(specs)} packages ({len(roots)} roots) in {spack.store.STORE.layout.root}")


def installed(out):
    import spack.store

    specs = [
        {"name": s.name, "hash": s.dag_hash(), "prefix": str(s.prefix)}
        for s in spack.store.STORE.db.query(installed=True)
    ]
    with open(out, "w") as f:
        json.dump({"store": str(spack.store.STORE.layout.root), "specs": specs}, f, indent=1)
    print(f"{len(specs)} specs installed in {spack.store.STORE.layout.root}")


def describe(root):
    """{relative path: (kind, mode, normalised content or link target)} of every prefix."""
    out = {}
    for arch in sorted(os.listdir(root)):
        top = os.path.join(root, arch)
        if arch.startswith(".") or arch == "bin" or not os.path.isdir(top):
            continue
        for dirpath, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                st = os.lstat(path)
                mode = oct(st.st_mode & 0o7777)
                if os.path.islink(path):
                    data = os.readlink(path).replace(root, "<root>")
                    out[rel] = ("link", mode, data)
                elif os.path.isdir(path):
                    out[rel] = ("dir", mode, None)
                elif name == "install_times.json":
                    out[rel] = ("file", mode, None)
                else:
                    with open(path, "rb") as f:
                        data = f.read().replace(root.encode(), b"<root>")
                    if data.startswith(b"\x7fELF"):
                        # strings relocated in place keep their old length: paths are padded
                        # with leading slashes, the rest with NULs
                        data = re.sub(b"\0+", b"\0", re.sub(b"/+<root>", b"<root>", data))
                    out[rel] = ("file", mode, data)
    return out


def compare(a, b):
    a, b = os.path.abspath(a), os.path.abspath(b)
    da, db = describe(a), describe(b)
    prefixes = {p for p in da if p.count(os.sep) == 1}
    diffs = [f"only in {a}: {p}" for p in sorted(da.keys() - db.keys())]
    diffs += [f"only in {b}: {p}" for p in sorted(db.keys() - da.keys())]
    for p in sorted(da.keys() & db.keys()):
        for what, x, y in zip(("type", "mode", "content"), da[p], db[p]):
            if x != y:
                diffs.append(f"{p}: {what} differs")
    if diffs:
        print(f"{len(diffs)} differences between {a} and {b}:", file=sys.stderr)
        for d in diffs[:20]:
            print(f"  {d}", file=sys.stderr)
        sys.exit(1)
    print(f"{len(prefixes)} prefixes, {len(da)} entries, identical")


def main(argv):
    if len(argv) == 3 and argv[0] == "repo":
        write_repo(argv[1], int(argv[2]))
    elif len(argv) == 3 and argv[0] == "build":
        build(argv[1], int(argv[2]))
    elif len(argv) == 2 and argv[0] == "installed":
        installed(argv[1])
    elif len(argv) == 3 and argv[0] == "compare":
        compare(argv[1], argv[2])
    else:
        sys.exit("usage: spack_dag.py repo DIR N | build OUT.json N | installed OUT.json | "
                 "compare ROOT_A ROOT_B")


main(sys.argv[1:])
