"""The MCP server, driven by the SDK's client: a subprocess over stdio and over HTTP on
127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import omnivector as ov

mcp = pytest.importorskip("mcp")
from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.types import CallToolResult  # noqa: E402

from omnivector.cli import main  # noqa: E402
from omnivector.integrations.mcp import create_server  # noqa: E402

READING = {"list_tables", "describe_table", "search", "get_documents", "count", "index_status"}
WRITING = {"add_documents", "upsert_documents", "delete_documents"}


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    with ov.VectorStore(path, dimension=4) as store:
        docs = store.create_table("docs", fields={"year": "int64"})
        docs.add(
            [
                {"id": "a", "vector": [1, 0, 0, 0], "text": "lance columnar format",
                 "year": 2023, "metadata": {"topic": "storage"}},
                {"id": "b", "vector": [0, 1, 0, 0], "text": "vector search in python",
                 "year": 2019, "metadata": {"topic": "search"}},
                {"id": "c", "vector": [0, 0, 1, 0], "text": "agents remember with tools",
                 "year": 2024},
            ]
        )  # fmt: skip
        store.create_table("memory", embedding=ov.embeddings.get("hashing", dimension=64))
    return path


def _stdio(store: Path, *options: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "omnivector", "mcp", "--store", str(store), *options],
    )


def _drive(server: Any, session: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Client(server) as client:
            await session(client)

    asyncio.run(main())


async def _ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def _error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result
    return _text(result)


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def test_stdio_server_reads_writes_and_survives_bad_arguments(store_path: Path) -> None:
    async def session(client: Client) -> None:
        listed = await client.list_tools()
        assert {tool.name for tool in listed.tools} == READING | WRITING
        by_name = {tool.name: tool for tool in listed.tools}
        assert by_name["search"].annotations and by_name["search"].annotations.read_only_hint
        assert "table" in by_name["search"].input_schema["properties"]

        assert await _ok(client, "list_tables") == {"tables": ["docs", "memory"]}
        described = await _ok(client, "describe_table", table="docs")
        assert described["dimension"] == 4 and described["rows"] == 3
        assert described["fields"] == {"year": "int64"} and described["embedding"] is None

        found = await _ok(client, "search", table="docs", vector=[1, 0.1, 0, 0], k=2)
        assert [h["id"] for h in found["hits"]] == ["a", "b"]
        assert found["hits"][0]["metadata"] == {"topic": "storage"}
        assert found["hits"][0]["year"] == 2023 and "vector" not in found["hits"][0]
        keyword = await _ok(client, "search", table="docs", text="columnar", k=5)
        assert [h["id"] for h in keyword["hits"]] == ["a"]
        filtered = await _ok(
            client, "search", table="docs", vector=[1, 0, 0, 0], where={"year": {"$gte": 2024}}
        )
        assert [h["id"] for h in filtered["hits"]] == ["c"]

        added = await _ok(
            client,
            "add_documents",
            table="docs",
            documents=[{"id": "d", "vector": [0, 0, 0, 1], "text": "a new memory", "year": 2025}],
        )
        assert added["inserted"] == 1
        upserted = await _ok(
            client,
            "upsert_documents",
            table="docs",
            documents=[
                {"id": "d", "vector": [0, 0, 0, 1], "text": "an edited memory", "year": 2025},
                {"id": "e", "vector": [0, 0, 1, 1], "text": "another one", "year": 2025},
            ],
        )
        assert (upserted["inserted"], upserted["updated"]) == (1, 1)
        got = await _ok(client, "get_documents", table="docs", ids=["d", "zz", "a"])
        assert [d["id"] for d in got["documents"]] == ["d", "a"] and got["missing"] == ["zz"]
        assert got["documents"][0]["text"] == "an edited memory"
        assert "vector" not in got["documents"][0]
        with_vectors = await _ok(
            client, "get_documents", table="docs", ids=["d"], include_vectors=True
        )
        assert with_vectors["documents"][0]["vector"] == [0, 0, 0, 1]
        assert (await _ok(client, "count", table="docs", where={"year": 2025}))["count"] == 2
        assert (await _ok(client, "delete_documents", table="docs", ids=["d", "e"]))["deleted"] == 2
        status = await _ok(client, "index_status", table="docs")
        assert status["busy"] is False
        assert [(i["kind"], i["columns"]) for i in status["indexes"]] == [("INVERTED", ["text"])]

        # a table with an embedding function (recorded in it) takes text alone
        memory = await _ok(client, "describe_table", table="memory")
        assert memory["embedding"] == {"name": "hashing", "options": {"dimension": 64}}
        await _ok(
            client,
            "add_documents",
            table="memory",
            documents=[
                {"id": "m1", "text": "the user prefers dark roast coffee"},
                {"id": "m2", "text": "the deploy runs every friday at noon"},
            ],
        )
        recalled = await _ok(client, "search", table="memory", query="coffee roast", k=1)
        assert [h["id"] for h in recalled["hits"]] == ["m1"]

        # bad arguments: a tool error with omnivector's message, and the server goes on
        assert "table 'nope' does not exist" in await _error(
            client, "search", table="nope", text="x"
        )
        assert "unknown operator '$near'" in await _error(
            client, "count", table="docs", where={"year": {"$near": 1}}
        )
        assert "dimension" in await _error(client, "search", table="docs", vector=[1, 0])
        assert "k must be a positive integer" in await _error(
            client, "search", table="docs", text="lance", k=0
        )
        assert "k" in await _error(client, "search", table="docs", text="lance", k="many")
        assert "search needs vector=, text= or query=" in await _error(
            client, "search", table="docs"
        )
        assert "no embedding function" in await _error(
            client, "search", table="docs", query="what is lance?"
        )
        assert "already exist" in await _error(
            client, "add_documents", table="docs", documents=[{"id": "a", "vector": [1, 0, 0, 0]}]
        )
        no_vector = await _error(
            client, "add_documents", table="docs", documents=[{"id": "x", "text": "no vector"}]
        )
        assert "every document needs a" in no_vector and "'vector'" in no_vector
        assert "never deletes everything" in await _error(
            client, "delete_documents", table="docs", ids=[]
        )
        assert "ids" in await _error(client, "delete_documents", table="docs")
        assert "documents is empty" in await _error(
            client, "upsert_documents", table="docs", documents=[]
        )
        # a write with vectors creates a missing table with their dimension
        created = await _ok(
            client, "add_documents", table="notes", documents=[{"id": "n", "vector": [1, 2]}]
        )
        assert created["inserted"] == 1
        assert (await _ok(client, "describe_table", table="notes"))["dimension"] == 2
        assert (await _ok(client, "count", table="docs"))["count"] == 3

    _drive(_stdio(store_path), session)
    with ov.VectorStore(store_path) as store:  # the writes are on disk
        assert sorted(store.table_names()) == ["docs", "memory", "notes"]
        assert store.table("docs").count() == 3
        assert len(store.table("memory").get(["m2"])[0]["vector"]) == 64


def test_read_only_server_offers_reading_tools_and_writes_nothing(store_path: Path) -> None:
    with ov.VectorStore(store_path) as store:
        version = store.table("docs").version
        indexes = [index.name for index in store.table("docs").indexes()]

    async def session(client: Client) -> None:
        listed = await client.list_tools()
        assert {tool.name for tool in listed.tools} == READING
        assert (await _ok(client, "count", table="docs"))["count"] == 3
        # a table has its full-text index from creation: a text search only reads
        assert "lance columnar format" in str(
            await _ok(client, "search", table="docs", text="columnar")
        )
        assert "Unknown tool" in await _error(client, "delete_documents", table="docs", ids=["a"])

    _drive(_stdio(store_path, "--read-only"), session)
    with ov.VectorStore(store_path) as store:
        table = store.table("docs")
        assert table.version == version
        assert [index.name for index in table.indexes()] == indexes


def test_read_only_needs_an_existing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mcp", "--read-only", "--store", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith("error: no store at")
    assert main(["mcp", "--store", str(tmp_path / "none"), "--port", "9"]) == 2
    assert not (tmp_path / "none").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def http_server(store_path: Path, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "omnivector", "mcp", "--store", str(store_path), "--http",
             "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start in 60 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode in (0, 130), log.read_text()


def test_http_server_on_loopback(http_server: str) -> None:
    async def session(client: Client) -> None:
        assert {tool.name for tool in (await client.list_tools()).tools} == READING | WRITING
        await _ok(
            client,
            "upsert_documents",
            table="docs",
            documents=[{"id": "h", "vector": [0.9, 0.1, 0, 0], "text": "over http"}],
        )
        found = await _ok(client, "search", table="docs", vector=[1, 0, 0, 0], k=2)
        assert [h["id"] for h in found["hits"]] == ["a", "h"]
        assert "does not exist" in await _error(client, "count", table="nope")
        assert (await _ok(client, "count", table="docs"))["count"] == 4

    _drive(http_server, session)


def test_create_server_refuses_what_is_not_a_store() -> None:
    with pytest.raises(ov.InvalidInputError, match="VectorStore"):
        create_server("./data")  # type: ignore[arg-type]


def test_mcp_command_without_the_sdk_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['mcp'] = None  # as if the SDK were not installed\n"
        "from omnivector.cli import main\n"
        f"sys.exit(main(['mcp', '--store', {str(tmp_path / 's')!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: omnivector.integrations.mcp needs the MCP SDK")
    assert "pip install 'omni-vector[mcp]'" in done.stderr
