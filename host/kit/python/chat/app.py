"""%%name%%: a wasmgate plugin of world `chat`.

The host reads the clients' JSON objects ({"Command":"01",...}), calls
`ChatHandler.handle` with each as a typed request, and delivers the messages
it returns. Who is online lives in the host's sessions -- the group
`handler.ONLINE`, a session attribute with the user's name, one group per
user to find their session, an atomic claim per name -- so the component
keeps nothing and a hot swap logs nobody out. The rules are in handler.py;
this module binds them to the classes componentize-py generates from wit/
(package `wit_world`): one class per exported interface, variants as one
class per case (`ClientRequest_Login`), a WIT `result` error raised as
`Err(value)`.
"""

import handler
from componentize_py_types import Err
from handler import ATTR_NAME, ONLINE
from wit_world import exports
from wit_world.exports import chat_handler as ch
from wit_world.imports import sessions


def reply(message) -> ch.Outgoing:
    return ch.Outgoing(to=sessions.Target_Reply(), message=message)


def login_failed(why: str) -> list[ch.Outgoing]:
    return [reply(ch.ServerMessage_LoginResult(ch.LoginResult(ok=False, friends=[], message=why)))]


def logged_in(session: int) -> str:
    """The name `session` logged in with; an error for a request that needs one."""
    name = sessions.get_attr(session, ATTR_NAME)
    if name is None:
        raise Err("log in first")
    return name


def login(session: int, name: str, password: str | None) -> list[ch.Outgoing]:
    if sessions.get_attr(session, ATTR_NAME) is not None:
        return login_failed("already logged in")
    why = handler.login_refusal(name, password)
    if why is not None:
        return login_failed(why)
    key = handler.user_key(name)
    if not sessions.claim(session, key):
        return login_failed(f"{name} is already online")
    sessions.set_attr(session, ATTR_NAME, name)
    sessions.join(session, ONLINE)
    sessions.join(session, key)
    friends = [
        ch.Friend(name=value, is_guest=True)
        for member in sessions.members(ONLINE)
        for key_, value in member.attrs
        if key_ == ATTR_NAME
    ]
    return [
        reply(ch.ServerMessage_LoginResult(ch.LoginResult(ok=True, friends=friends, message=None))),
        ch.Outgoing(
            to=sessions.Target_GroupOthers(ONLINE),
            message=ch.ServerMessage_LoggedOn(ch.LoggedOn(name=name, is_guest=True)),
        ),
    ]


def leave(session: int) -> list[ch.Outgoing]:
    """Logs `session` out, if it is logged in: what the others are told."""
    name = sessions.get_attr(session, ATTR_NAME)
    if name is None:
        return []
    key = handler.user_key(name)
    sessions.leave(session, key)
    sessions.leave(session, ONLINE)
    sessions.release(session, key)
    sessions.set_attr(session, ATTR_NAME, None)
    return [ch.Outgoing(to=sessions.Target_GroupOthers(ONLINE), message=ch.ServerMessage_LoggedOut(name))]


class ChatHandler(exports.ChatHandler):
    def handle(self, session: int, request: ch.ClientRequest) -> list[ch.Outgoing]:
        if isinstance(request, ch.ClientRequest_Login):
            return login(session, request.value.name, request.value.password)
        if isinstance(request, ch.ClientRequest_Register):
            result = ch.RegisterResult(ok=False, message="registration is not open here")
            return [reply(ch.ServerMessage_RegisterResult(result))]
        if isinstance(request, ch.ClientRequest_Logout):
            return leave(session)
        if isinstance(request, ch.ClientRequest_PrivateMessage):
            sender = logged_in(session)
            friend = handler.user_key(request.value.friend_name)
            online = len(sessions.members(friend)) > 0
            out = []
            if online:
                delivery = ch.PrivateDelivery(sender=sender, message=request.value.message)
                out.append(ch.Outgoing(to=sessions.Target_Group(friend), message=ch.ServerMessage_PrivateMessage(delivery)))
            out.append(reply(ch.ServerMessage_Receipt(online)))
            return out
        if isinstance(request, ch.ClientRequest_GroupMessage):
            delivery = ch.GroupDelivery(speaker=logged_in(session), message=request.value)
            return [ch.Outgoing(to=sessions.Target_Group(ONLINE), message=ch.ServerMessage_GroupMessage(delivery))]
        raise Err(f"unknown request {type(request).__name__}")

    def closed(self, session: int) -> list[ch.Outgoing]:
        return leave(session)


class Admin(exports.Admin):
    def handle(self, request: str) -> str:
        """POST /admin/%%name%%: who is online."""
        return '{"online":%d}' % len(sessions.members(ONLINE))
