"""The method registry: a method added as one file under `generate/methods/` (its templates in a prompt folder of
the user's) is run by the generate command, resumed from its journal and priced by the dry run, with no other file
touched; an unknown method is one line naming the known ones; every built-in method's templates are in the
default prompt version."""


import pytest

from entigraph_jax.data import read_records
from entigraph_jax.generate import methods as method_package
from entigraph_jax.generate.estimate import estimate
from entigraph_jax.generate.method import methods
from entigraph_jax.generate.run import generate
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.settings import SettingError
from entigraph_jax.testing import FakeLLMServer
from tests.helpers.generate import config_for
from tests.helpers.modules import module_in

# named here: another test adds a method for a while
BUILT_IN = ("active_reading", "entigraph", "knowledge", "questions", "rephrase")
NEW_METHOD = '''
"""digest: one short digest of each document (a method of a dozen lines, written as a user would)."""

from entigraph_jax.generate.method import Kind, Method
from entigraph_jax.generate.requests import make_request


def first(docs, settings):
    return [make_request(doc, "digest", settings) for doc in docs]


async def send(rounds):
    rounds.expect(rounds.journal.count_pending(("digest",), rounds.retry))
    await rounds.engine.run(rounds.journal.pending(("digest",), rounds.retry))


def estimate(add, docs, settings, out):
    for doc in docs:
        add("digest", first([doc], settings)[0], doc, settings.dry_run.output_tokens)
    return ""


METHOD = Method("digest", "one digest of each document", kinds={"digest": Kind()},
                templates=lambda settings: ("system", "digest"), first=first, send=send, estimate=estimate)
'''


@pytest.fixture
def new_method():
    """The file, written where the project's methods are; this process's registry read again with it and without."""
    with module_in(method_package, "digest", NEW_METHOD, methods) as path:
        yield path


def test_a_method_in_one_new_file_generates_resumes_and_prices(new_method, tmp_path):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "system.txt").write_text("You write study material.")
    (prompts / "digest.txt").write_text("<document>\n{document}\n</document>\n\nDigest the document above.")
    server = FakeLLMServer().start()
    config = config_for(server, tmp_path, method="digest", prompt_version=prompts)
    priced = estimate(config)
    assert priced.by_kind["digest"]["requests"] == priced.documents == 10 and not server.requests
    summary = generate(config)
    written = list(read_records(config.output_dir + "/records"))
    assert summary.status == "complete" and summary.records == len(written) == 10
    assert {r["kind"] for r in written} == {"digest"} and len(server.requests) == 10
    assert generate(config).records == 10 and len(server.requests) == 10  # a rerun: every answer journaled


def test_an_unknown_method_is_one_line_naming_the_known_ones():
    with pytest.raises(SettingError, match=r"unknown method; known: (\w+, )*entigraph, (\w+, )*rephrase") as e:
        GenerateSettings(method="digests")
    assert all(name in str(e.value) for name in BUILT_IN)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_method_has_its_templates_in_the_default_version(name):
    GenerateSettings(method=name).check_templates()
    assert list(methods()[name].kinds)  # and sends at least one kind of request
