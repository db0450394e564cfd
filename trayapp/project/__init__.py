"""Knowing the user's project: discovery of its dev stack, ``trayapp init`` and ``trayapp doctor``.

packagejson, envfiles, viteconfig, compose, jscode   one source each, values with file:line
discover    sources -> the stack's services (Discovery)
init        a Discovery -> trayapp.toml (tomlkit, a comment per value)
load        which stack to watch: config file, discovered project, or the built-in default
doctor      findings about a project, each with severity, sentence, file:line and fix
"""
