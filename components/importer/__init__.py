"""`modelstack import`: an Azure ML deployment (v1 CLI JSON files, v1 Python or notebooks, v2
endpoint and deployment YAML) read without running anything and written as a model and a
service into Pulumi.yaml and the stack's file.

One module per concern:
- `result`: what every source is turned into (models, one service, its stack settings) and the
  report of where each source field went;
- `reading`: the source files read within bounds (size, depth, notebook cells);
- `v1_json`, `v1_python`, `v2_yaml`: one reader per source, pure over the parsed documents;
- `counterparts`: which target each of Azure ML's kinds of deployment becomes, as the targets say;
- `sizing`: instance types and Kubernetes quantities to cpu_cores / memory_gb;
- `placing`: source paths made relative to the project (or copied in, when asked);
- `writer`: the YAML edits (comments and order kept), the diff, the all-or-nothing write;
- `plan`: the whole import, from the sources to validated new file texts.
"""
