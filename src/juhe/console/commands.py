"""`juhe console user add`: a console login for a merchant's staff or the platform operator."""

from __future__ import annotations

import uuid

import typer
from rich.console import Console

from juhe.config import get_settings

console_app = typer.Typer(help="The web console at /console.", no_args_is_help=True)
user_app = typer.Typer(help="Console users.", no_args_is_help=True)
console_app.add_typer(user_app, name="user")


@user_app.command("add")
def add(
    login: str = typer.Argument(..., help="What the user logs in with, e.g. an e-mail address."),
    role: str = typer.Option(..., "--role", help="finance, it, business, risk, admin (a merchant's) or operator (the platform)."),
    merchant: str = typer.Option(None, "--merchant", help="The merchant's id; leave out for the operator."),
    name: str = typer.Option(None, "--name", help="Shown in the console; defaults to the login."),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="At least 10 characters; asked for when not given."),
    database_url: str = typer.Option(None, "--database-url", help="Defaults to JUHE_DATABASE_URL."),
) -> None:
    """Add a console user with a password and one role."""
    from juhe.console.users import ConsoleError, add_user
    from juhe.db.engine import Database

    try:
        merchant_id = uuid.UUID(merchant) if merchant else None
    except ValueError:
        Console(stderr=True).print(f"[red]error:[/red] {merchant!r} is not a merchant id")
        raise typer.Exit(2) from None
    db = Database(database_url or get_settings().database_url)
    try:
        with db.session() as session, session.begin():
            user = add_user(session, login, name or login, role, password, merchant_id)
            user_id = user.id
    except ConsoleError as refusal:
        Console(stderr=True).print(f"[red]error:[/red] {refusal} ({refusal.code})")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    Console().print(f"[green]ok[/green] console user {login} ({role}) added: {user_id}")
