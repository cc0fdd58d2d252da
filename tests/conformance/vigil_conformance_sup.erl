%% The supervisor callback module of the conformance scenarios: every
%% supervisor of a scenario's tree is one OTP `supervisor` process running
%% this module, with the flags and child specs the batch file gives.
%%
%% Tree terms (from the batch file written by the Rust side):
%%   Flags = {Strategy, Intensity, PeriodSeconds, AutoShutdown}
%%   Child = {worker, Name, Restart, Shutdown, Significant}
%%         | {supervisor, Name, Restart, Shutdown, Significant, Flags, [Child]}
%%   Shutdown = brutal_kill | infinity | Milliseconds
-module(vigil_conformance_sup).
-behaviour(supervisor).

-export([start_link/4, worker_spec/3]).
-export([init/1]).

%% Runs in the parent supervisor (in the driver, for the root): the
%% supervisor's start is logged once it has started all its children, or
%% failed to.
start_link(Log, Path, Flags, Children) ->
    case supervisor:start_link(?MODULE, {Log, Path, Flags, Children}) of
        {ok, Pid} ->
            ok = vigil_conformance_log:sup_up(Log, Path, Pid, self()),
            {ok, Pid};
        Error ->
            ok = vigil_conformance_log:note(
                   Log, ["sup_start_failed ", vigil_conformance_log:format_path(Path)]),
            Error
    end.

init({Log, Path, {Strategy, Intensity, Period, AutoShutdown}, Children}) ->
    %% Read by vigil_conformance_log:log/2 when this supervisor gives up.
    put(vigil_conformance_sup, {Log, Path}),
    %% Everything it receives goes to the log too: that is how the log learns
    %% of stops, in this supervisor's order (see vigil_conformance_log).
    erlang:trace(self(), true, ['receive', {tracer, Log}]),
    Flags = #{strategy => Strategy, intensity => Intensity, period => Period,
              auto_shutdown => AutoShutdown},
    {ok, {Flags, [child_spec(Log, Path, C) || C <- Children]}}.

child_spec(Log, Parent, {worker, Name, Restart, Shutdown, Significant}) ->
    (worker_spec(Log, Parent, Name))#{restart => Restart, shutdown => Shutdown,
                                      significant => Significant};
child_spec(Log, Parent, {supervisor, Name, Restart, Shutdown, Significant, Flags, Kids}) ->
    Path = Parent ++ [Name],
    #{id => Name,
      start => {?MODULE, start_link, [Log, Path, Flags, Kids]},
      restart => Restart,
      shutdown => Shutdown,
      significant => Significant,
      type => supervisor}.

%% A worker with OTP's defaults (permanent, 5 s shutdown, not significant),
%% which are also vigil's: what a script's start_child adds.
worker_spec(Log, Parent, Name) ->
    #{id => Name,
      start => {vigil_conformance_worker, start_link, [Log, Parent ++ [Name]]},
      type => worker}.
