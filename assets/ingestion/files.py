"""Raw assets of the file source: each CSV of inputs.md replaces its raw table whole, so re-importing a
changed file replaces what it loaded before, and a removed file removes its rows."""

import dagster as dg
import pyarrow as pa

from assets.checks import prewarm
from assets.ingestion.tables import RAW_FILE_TABLES
from assets.metadata import table_metadata
from resources.csv_files import FILE_CONTRACTS, CsvFilesResource, FileContract
from resources.warehouse import WarehouseResource

GROUP = "files"


def raw_file_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", f"files__{name}"])


def _file_asset(contract: FileContract, kinds: set[str]) -> dg.AssetsDefinition:
    table = RAW_FILE_TABLES[contract.name]
    required = ", ".join(c.name for c in contract.columns if c.required)

    @dg.asset(
        key=raw_file_key(contract.name),
        group_name=GROUP,
        kinds={"csv", *kinds},
        description=(
            f"Rows of `{contract.filename}` from the files source, typed and validated "
            f"(required: {required}). "
            "One row per CSV row, with the file, row number and load time."
        ),
    )
    def _load(context: dg.AssetExecutionContext, files: CsvFilesResource, warehouse: WarehouseResource):
        prewarm()  # staging validates next: load its library while the files are read
        rows = files.read(contract) if files.path else None
        if rows is None:
            context.log.info(f"{contract.filename} is absent: raw.files__{contract.name} is emptied")
            rows = pa.table({})
        count = warehouse.replace_rows(table, rows)
        source = str(files.file_path(contract)) if files.path else "(files source off)"
        return dg.MaterializeResult(metadata=table_metadata(warehouse, table, count, source_file=source))

    return _load


def build_file_assets(kinds: set[str]) -> list[dg.AssetsDefinition]:
    return [_file_asset(contract, kinds) for contract in FILE_CONTRACTS.values()]
